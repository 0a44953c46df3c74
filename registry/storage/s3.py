"""Fragments in an S3 bucket; clients move the bytes through boto3 presigned URLs."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..errors import StorageUnavailable
from .base import (BlobStore, PendingMultipart, SignedRequest, StoredObject, UploadTarget,
                   batch_prefix, object_key, staging_key)
from .s3_errors import MISSING_CODES, error_code, storage_errors
from .s3_imports import COPY_MAX_BYTES, S3Importer, whole_sha256
from .s3_listing import PrefixLister
from .sigv4 import CHECKSUM_PARAMETER, PresignerV4, checksum_sha256, composite_checksum

# Above this many fragments one listing of the owner's prefix beats a HEAD per fragment
# (verification, which checks all of an owner's fragments; a push lists its batch instead).
LIST_THRESHOLD = 500
VERIFY_CHUNK = 1024 * 1024


def _by_name(listed: list[tuple[str, int]], prefix_length: int) -> dict[str, int]:
    """{key[prefix_length:]: size} of a listing, in C for the 100,000 keys of a push's batch."""
    if not listed:
        return {}
    keys, sizes = zip(*listed)
    return dict(zip(map(operator.itemgetter(slice(prefix_length, None)), keys), sizes))


def _client(session: boto3.session.Session, endpoint_url: str, *, connect_timeout: float, read_timeout: float,
            max_attempts: int):
    # SigV4 always: against a custom endpoint boto3 may otherwise sign legacy SigV2 URLs.
    # boto3's defaults (60 s read timeout, 4 tries) held a request for 4 minutes when S3 hung.
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    retries={"total_max_attempts": max_attempts, "mode": "standard"}, max_pool_connections=32,
                    connect_timeout=connect_timeout, read_timeout=read_timeout)
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


COPY_READ_TIMEOUT = 300  # S3 answers a copy once it is done: seconds per GiB, not the usual few


class S3BlobStore(BlobStore):
    def __init__(self, bucket: str, *, endpoint_url: str = "", public_endpoint_url: str = "",
                 region: str = "us-east-1", expiry_seconds: int = 86400, access_key_id: str = "",
                 secret_access_key: str = "", connect_timeout: float = 3, read_timeout: float = 3,
                 max_attempts: int = 2, check_timeout: float = 2, signed_checksums: bool = True,
                 copy_part_bytes: int = COPY_MAX_BYTES):
        self.bucket = bucket
        self.signed_checksums = signed_checksums
        credentials = ({"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
                       if access_key_id else {})
        self.session = boto3.session.Session(region_name=region, **credentials)
        self.client = _client(self.session, endpoint_url, connect_timeout=connect_timeout,
                              read_timeout=read_timeout, max_attempts=max_attempts)
        self._importer = S3Importer(self, copy_part_bytes, _client(
            self.session, endpoint_url, connect_timeout=connect_timeout, read_timeout=COPY_READ_TIMEOUT,
            max_attempts=max_attempts))
        # The health check answers within its own bound: one try, short timeouts.
        self._check_client = _client(self.session, endpoint_url, connect_timeout=check_timeout,
                                     read_timeout=check_timeout, max_attempts=1)
        # The host is part of the signature, so URLs for clients are signed for the host they use.
        self.presigner = PresignerV4(public_endpoint_url or self.client.meta.endpoint_url, region,
                                     self._credentials, expiry_seconds)
        # Listings the registry makes itself go to the endpoint it reaches, signed for that host.
        self.lister = PrefixLister(bucket, PresignerV4(self.client.meta.endpoint_url, region, self._credentials, 300),
                                   (connect_timeout, read_timeout), max_attempts)

    def _credentials(self):
        credentials = self.session.get_credentials()
        if credentials is None:
            raise StorageUnavailable("No S3 credentials: set REGISTRY_S3_ACCESS_KEY_ID/REGISTRY_S3_SECRET_ACCESS_KEY "
                                     "or the standard AWS variables")
        return credentials.get_frozen_credentials()

    def create_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def object_url(self, method: str, owner: str, hash_: str, batch: str | None = None) -> str:
        return self._url(method, object_key(owner, hash_, batch), hash_)

    def staging_url(self, method: str, owner: str, pusher: str, hash_: str) -> str:
        return self._url(method, staging_key(owner, pusher, hash_), hash_)

    def object_urls(self, method: str, owner: str, hashes: list[str], batch: str | None = None) -> list[str]:
        return self._urls(method, [object_key(owner, hash_, batch) for hash_ in hashes], hashes)

    def staging_urls(self, method: str, owner: str, pusher: str, hashes: list[str]) -> list[str]:
        return self._urls(method, [staging_key(owner, pusher, hash_) for hash_ in hashes], hashes)

    def _urls(self, method: str, keys: list[str], hashes: list[str]) -> list[str]:
        checksums = [checksum_sha256(hash_) for hash_ in hashes] if method == "PUT" and self.signed_checksums else None
        return self.presigner.presign_many(method, self.bucket, keys, checksums)

    def _url(self, method: str, key: str, hash_: str) -> str:
        # A PUT URL names the fragment's SHA-256 (its hash) in its signed query: the store refuses
        # other bytes, so whoever holds the URL can never write anything but the fragment there.
        checksum = checksum_sha256(hash_) if method == "PUT" and self.signed_checksums else None
        return self.presigner.presign(method, self.bucket, key, checksum_sha256=checksum)

    def upload_batch(self, owner: str, hashes: Iterable[str]) -> str | None:
        return hashlib.sha256((owner + "".join(sorted(hashes))).encode()).hexdigest()[:32]

    def batch_sizes(self, owner: str, batch: str, expected: int = 0) -> dict[str, int]:
        prefix = batch_prefix(owner, batch)
        with storage_errors("list batch"):
            return _by_name(self.lister.list(prefix, expected), len(prefix))

    def sizes(self, owner: str, hashes: Iterable[str], batch: str | None = None) -> dict[str, int]:
        wanted = set(hashes)
        with storage_errors("sizes"):
            if len(wanted) > LIST_THRESHOLD:
                prefix = object_key(owner, "", batch)
                listed = self.lister.list(prefix, expected=len(wanted))
                return {h: size for h, size in ((key[len(prefix):], size) for key, size in listed) if h in wanted}
            pool = ThreadPoolExecutor(max_workers=16)
            try:
                found = list(pool.map(lambda h: (h, self._head_size(owner, h, batch)), wanted))
            finally:
                # On the first failure the queued HEADs are dropped rather than each timing out in turn.
                pool.shutdown(wait=False, cancel_futures=True)
            return {h: size for h, size in found if size is not None}

    def _head_size(self, owner: str, hash_: str, batch: str | None = None) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=object_key(owner, hash_, batch))["ContentLength"]
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise

    def stored_sha256(self, owner: str, hash_: str, batch: str | None = None) -> str | None:
        with storage_errors("checksum"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=object_key(owner, hash_, batch),
                                               ChecksumMode="ENABLED")
            except ClientError as exc:
                if error_code(exc) in MISSING_CODES:
                    return None
                raise
        return whole_sha256(head.get("ChecksumSHA256"))

    def read(self, owner: str, hash_: str, limit: int, batch: str | None = None) -> bytes:
        # The first bytes, not the last (the original's suffix range read the tail: protocol.md 14.7).
        key = object_key(owner, hash_, batch)
        with storage_errors("read", key):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit - 1}")
            except ClientError as exc:
                if error_code(exc) == "InvalidRange":  # S3's answer to a range of an empty object
                    return b""
                raise
            return response["Body"].read()

    def stream(self, owner: str, hash_: str, batch: str | None = None) -> Iterator[bytes]:
        key = object_key(owner, hash_, batch)
        with storage_errors("stream", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            yield from body.iter_chunks(1024 * 1024)

    def delete(self, owner: str, hash_: str, batch: str | None = None) -> None:
        with storage_errors("delete"):  # a missing key is no error to S3
            self.client.delete_object(Bucket=self.bucket, Key=object_key(owner, hash_, batch))

    # Staging and garbage collection

    def staged_sizes(self, owner: str, pusher: str) -> dict[str, int]:
        prefix = staging_key(owner, pusher, "")
        with storage_errors("list staged"):
            return _by_name(self.lister.list(prefix), len(prefix))

    def accept_staged(self, owner: str, pusher: str, hash_: str, batch: str | None = None) -> bool:
        # The copy is conditional on the ETag of what was checked: the pusher still holds a PUT
        # URL and could swap the bytes between the check and the copy.
        staged = staging_key(owner, pusher, hash_)
        with storage_errors("verify staged"):
            try:
                etag = self._verified_etag(staged, hash_)
                if etag is None:
                    self.client.delete_object(Bucket=self.bucket, Key=staged)
                    return False
                if self._head_size(owner, hash_, batch) is None:
                    self.client.copy_object(Bucket=self.bucket, Key=object_key(owner, hash_, batch),
                                            CopySource={"Bucket": self.bucket, "Key": staged},
                                            CopySourceIfMatch=etag)
                return True
            except ClientError as exc:
                if error_code(exc) in ("NoSuchKey", "404", "PreconditionFailed", "412"):
                    # Gone or replaced since it was listed: not the bytes that were checked.
                    self.client.delete_object(Bucket=self.bucket, Key=staged)
                    return False
                raise

    def _verified_etag(self, key: str, hash_: str) -> str | None:
        """The ETag of the object at `key` if its SHA-256 is `hash_`, else None. An object that
        arrived through a URL signing its checksum carries the SHA-256 the store computed itself:
        compared without reading a byte. Any other (a multipart upload's composite checksum, a
        store that keeps none) is read once, in chunks."""
        head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        if head.get("ChecksumSHA256") == checksum_sha256(hash_) or self.read_sha256(key) == hash_:
            # If the bytes were swapped after the HEAD, the copy conditional on its ETag fails.
            return head["ETag"]
        return None

    # Transfers v2

    def single_upload(self, target: UploadTarget, checksum: str) -> SignedRequest:
        url = self.presigner.presign_with_checksum_header("PUT", self.bucket, target.key, checksum)
        return SignedRequest(url, {CHECKSUM_PARAMETER: checksum})

    def start_multipart(self, target: UploadTarget) -> str:
        with storage_errors("start multipart upload"):
            return self.client.create_multipart_upload(Bucket=self.bucket, Key=target.key,
                                                       ChecksumAlgorithm="SHA256")["UploadId"]

    def part_upload(self, target: UploadTarget, upload_id: str, number: int, checksum: str) -> SignedRequest:
        url = self.presigner.presign_with_checksum_header(
            "PUT", self.bucket, target.key, checksum, {"partNumber": str(number), "uploadId": upload_id})
        return SignedRequest(url, {CHECKSUM_PARAMETER: checksum})

    def _parts(self, target: UploadTarget, upload_id: str) -> list[dict] | None:
        parts = []
        try:
            for page in self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=target.key,
                                                                         UploadId=upload_id):
                parts.extend(page.get("Parts", ()))
        except ClientError as exc:
            if error_code(exc) in ("NoSuchUpload", "404"):
                return None
            raise
        return parts

    def uploaded_parts(self, target: UploadTarget, upload_id: str) -> dict[int, int] | None:
        with storage_errors("list parts"):
            parts = self._parts(target, upload_id)
        return None if parts is None else {part["PartNumber"]: part["Size"] for part in parts}

    def complete_multipart(self, target: UploadTarget, upload_id: str, checksums: list[str]) -> bool:
        # S3 checked every part against the checksum signed into its URL; the composite checksum
        # it computes from them proves the joined object is made of exactly those parts.
        expected = composite_checksum(checksums)
        with storage_errors("complete multipart upload"):
            parts = self._parts(target, upload_id)
            if parts is None:
                return False
            etags = {part["PartNumber"]: part["ETag"] for part in parts}
            try:
                answer = self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target.key, UploadId=upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n], "ChecksumSHA256": c}
                                               for n, c in enumerate(checksums, 1)]})
            except ClientError as exc:
                if error_code(exc) in ("InvalidPart", "BadDigest", "InvalidDigest", "NoSuchUpload", "InvalidPartOrder"):
                    return False
                raise
            stored = answer.get("ChecksumSHA256") or self.client.head_object(
                Bucket=self.bucket, Key=target.key, ChecksumMode="ENABLED").get("ChecksumSHA256")
            if stored != expected:
                self.client.delete_object(Bucket=self.bucket, Key=target.key)
                return False
            return True

    def abort_multipart(self, key: str | None, upload_id: str) -> None:
        with storage_errors("abort multipart upload"):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchUpload", "404"):
                    raise

    def import_object(self, owner: str, bucket: str, key: str, version_id: str | None) -> tuple[str, int]:
        return self._importer.import_object(owner, bucket, key, version_id)

    def read_sha256(self, key: str) -> str:
        """For a store that computes no SHA-256 on copy (SeaweedFS): read it once, in chunks."""
        digest = hashlib.sha256()
        for chunk in self.client.get_object(Bucket=self.bucket, Key=key)["Body"].iter_chunks(VERIFY_CHUNK):
            digest.update(chunk)
        return digest.hexdigest()

    def pending_multiparts(self) -> Iterator[PendingMultipart]:
        with storage_errors("list multipart uploads"):
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
                for item in page.get("Uploads", ()):
                    yield PendingMultipart(item["Key"], item["UploadId"],
                                           item["Initiated"].astimezone(dt.timezone.utc))

    def list_objects(self, area: str) -> Iterator[StoredObject]:
        with storage_errors("list"):
            yield from self._list(f"{area}/")

    def _list(self, prefix: str) -> Iterator[StoredObject]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield StoredObject(item["Key"], item["Size"], item["LastModified"].astimezone(dt.timezone.utc))

    def delete_key(self, key: str) -> None:
        with storage_errors("delete"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def check(self) -> None:
        with storage_errors(f"bucket {self.bucket}"):  # a 404 here: no such bucket, unavailable
            self._check_client.head_bucket(Bucket=self.bucket)
