"""`s3://` imports into an S3 store: objects of an allowed bucket copied inside S3 into the
owner's fragments, so the bytes pass neither the client nor the web tier."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BadRequest, Conflict
from .base import TEMP_PREFIX, object_key, staging_key
from .s3_errors import source_error, storage_errors

if TYPE_CHECKING:
    from .s3 import S3BlobStore

COPY_MAX_BYTES = 5 * 1024 ** 3  # what one CopyObject, or one UploadPartCopy, copies at most
COPY_MAX_PARTS = 10_000
MAX_OBJECT_BYTES = 5 * 1024 ** 4  # S3's largest object
COPY_THREADS = 4  # parts copied at once, inside S3
READ_CHUNK = 1024 * 1024


@contextlib.contextmanager
def _from_source(where: str, source: dict):
    """S3's refusals of what reads an import's source: its owner's to fix (403/404) or a change
    meanwhile (409), not our storage's errors."""
    try:
        yield
    except ClientError as exc:
        raise source_error(exc, where, source["Bucket"]) from exc


def whole_sha256(checksum: str | None) -> str | None:
    """The hex SHA-256 of a whole object from S3's ChecksumSHA256 (None for a multipart composite)."""
    if not checksum or "-" in checksum:
        return None
    return base64.b64decode(checksum).hex()


class S3Importer:
    def __init__(self, store: "S3BlobStore", copy_part_bytes: int, copier):
        """`copier`: a boto3 client whose read timeout allows for copies (S3 answers once done)."""
        self.store, self.copier = store, copier
        self.copy_part_bytes = copy_part_bytes  # objects above it are copied in parts of this size

    def import_object(self, owner: str, bucket: str, key: str, version_id: str | None) -> tuple[str, int]:
        # Copied inside S3: the bytes pass neither the client nor the web tier (but for one read
        # of an object too big for one copy), and later changes to the source change nothing in
        # the package.
        source = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
        try:
            head = self.store.client.head_object(**source)
        except (BotoCoreError, ClientError) as exc:
            raise source_error(exc, where, bucket) from exc
        size = head["ContentLength"]
        if size > MAX_OBJECT_BYTES:
            raise BadRequest(f"{where} holds {size} bytes; objects of up to {MAX_OBJECT_BYTES} bytes can be imported")
        with storage_errors(f"copy {where}"):
            if size > self.copy_part_bytes:
                return self._import_in_parts(owner, source, where, head["ETag"], size), size
            return self._import_whole(owner, source, where, head["ETag"]), size

    def _import_whole(self, owner: str, source: dict, where: str, etag: str) -> str:
        """One CopyObject to a temporary key, for which S3 computes the SHA-256 (a store that does
        not, such as SeaweedFS, has the copy read once), then placed at objs/OWNER/HASH."""
        temporary = staging_key(owner, owner, f"{TEMP_PREFIX}import-{secrets.token_hex(16)}")
        try:
            with _from_source(where, source):
                self.copier.copy_object(Bucket=self.store.bucket, Key=temporary, CopySource=source,
                                        CopySourceIfMatch=etag, ChecksumAlgorithm="SHA256")
            copied = self.store.client.head_object(Bucket=self.store.bucket, Key=temporary, ChecksumMode="ENABLED")
            hash_ = whole_sha256(copied.get("ChecksumSHA256")) or self.store.read_sha256(temporary)
            if hash_ not in self.store.sizes(owner, [hash_]):
                self.copier.copy_object(Bucket=self.store.bucket, Key=object_key(owner, hash_),
                                        CopySource={"Bucket": self.store.bucket, "Key": temporary},
                                        CopySourceIfMatch=copied["ETag"])
        finally:  # swept by gc if this is cut short
            self.store.client.delete_object(Bucket=self.store.bucket, Key=temporary)
        return hash_

    def _import_in_parts(self, owner: str, source: dict, where: str, etag: str, size: int) -> str:
        """An object too big for one copy. S3 keeps only a composite checksum of a copy in parts,
        so the source is read once (conditional on its ETag) for its SHA-256 and that of each
        copy part; its parts are then copied to objs/OWNER/HASH (UploadPartCopy, several at once,
        each conditional on the ETag), and the upload is completed only if the SHA-256 S3
        computed of every copied part is the one read: the stored bytes are the hashed ones."""
        part_size = max(self.copy_part_bytes, -(-size // COPY_MAX_PARTS))
        with _from_source(where, source):
            hash_, part_sums = self._read_sha256_with_parts(source, etag, part_size)
        key = object_key(owner, hash_)
        if hash_ in self.store.sizes(owner, [hash_]):
            return hash_  # stored already: nothing to copy
        upload_id = self.copier.create_multipart_upload(Bucket=self.store.bucket, Key=key,
                                                        ChecksumAlgorithm="SHA256")["UploadId"]

        def copy_part(number: int) -> dict:
            first = (number - 1) * part_size
            with _from_source(where, source):
                result = self.copier.upload_part_copy(
                    Bucket=self.store.bucket, Key=key, UploadId=upload_id, PartNumber=number, CopySource=source,
                    CopySourceIfMatch=etag, CopySourceRange=f"bytes={first}-{min(first + part_size, size) - 1}",
                )["CopyPartResult"]
            if result.get("ChecksumSHA256") != part_sums[number - 1]:
                raise Conflict(f"{where} changed while it was imported (a copied part is not what was read, "
                               "or the store computes no checksum of copied parts); import it again")
            return {"PartNumber": number, "ETag": result["ETag"], "ChecksumSHA256": result["ChecksumSHA256"]}

        try:
            with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
                parts = list(pool.map(copy_part, range(1, len(part_sums) + 1)))
            self.copier.complete_multipart_upload(Bucket=self.store.bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):  # else gc aborts it later
                self.copier.abort_multipart_upload(Bucket=self.store.bucket, Key=key, UploadId=upload_id)
            raise
        return hash_

    def _read_sha256_with_parts(self, source: dict, etag: str, part_size: int) -> tuple[str, list[str]]:
        """The hex SHA-256 of an object and the base64 SHA-256 of each `part_size` slice of it,
        from one read of the version whose ETag is `etag`."""
        whole, part, part_sums, in_part = hashlib.sha256(), hashlib.sha256(), [], 0
        for chunk in self.store.client.get_object(**source, IfMatch=etag)["Body"].iter_chunks(READ_CHUNK):
            whole.update(chunk)
            while chunk:
                piece, chunk = chunk[:part_size - in_part], chunk[part_size - in_part:]
                part.update(piece)
                in_part += len(piece)
                if in_part == part_size:
                    part_sums.append(base64.b64encode(part.digest()).decode())
                    part, in_part = hashlib.sha256(), 0
        if in_part:
            part_sums.append(base64.b64encode(part.digest()).decode())
        return whole.hexdigest(), part_sums
