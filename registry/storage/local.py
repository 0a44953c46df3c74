"""Fragments in a folder, served by the registry itself through signed, expiring URLs.

The URLs carry `m` (the one HTTP method they allow), `e` (expiry, epoch seconds) and `s`
(an HMAC over method, owner, hash and expiry), so they work like S3 presigned URLs: any
change to them, or using one after it expires, is refused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import BadRequest, PayloadTooLarge, StorageAccessDenied, StorageUnavailable
from .base import (MULTIPART, STAGING, TEMP_PREFIX, BlobStore, PendingMultipart, SignedRequest, StoredObject,
                   UploadTarget, fragment_missing, object_key, staging_key)

CHUNK = 1024 * 1024
UPLOAD_ID = re.compile(r"[0-9a-f]{32}\Z")


def _place(source: Path, target: Path) -> None:
    """Link `source` at `target` unless something is there already: a hard link never replaces."""
    try:
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:
        # A filesystem without hard links: the check and the move are no longer one step, but a
        # fragment that arrives in between has the same bytes (each was verified against its name).
        if not target.exists():
            os.replace(source, target)


@contextlib.contextmanager
def _storage_errors(what: str, key: str | None = None):
    """No OSError gets past the store, as no botocore error gets past the S3 one: a file missing
    where a `key` was asked for is a missing fragment, a refusal is the registry refused, and any
    other failure (a full disk, a lost mount) a 503. Messages name the key, never the folder."""
    try:
        yield
    except FileNotFoundError as exc:
        if key is None:  # a folder of the store itself is gone
            raise StorageUnavailable(f"Blob storage failed ({what}): {exc.strerror}") from exc
        raise fragment_missing(key) from exc
    except PermissionError as exc:
        raise StorageAccessDenied(f"Blob storage refused the registry ({what}): {exc.strerror}") from exc
    except OSError as exc:
        raise StorageUnavailable(f"Blob storage failed ({what}): {exc.strerror or type(exc).__name__}") from exc


def _no_batch(batch: str | None) -> None:
    # A stat per fragment costs the same whatever the folder holds: uploads go straight to objs/.
    if batch is not None:
        raise ValueError("the local store keeps no upload batches")


@contextlib.contextmanager
def _spooled(folder: Path, stream: BinaryIO, max_bytes: int | None, what: str):
    """The stream in a temporary file of `folder` (synced to disk), with its SHA-256; the file is
    gone afterwards unless the caller moved it into place. More than `max_bytes` is a 413."""
    digest, received = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as tmp:
            while chunk := stream.read(CHUNK):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise PayloadTooLarge(f"A {what} may be at most {max_bytes} bytes")
                digest.update(chunk)
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        yield Path(name), digest
    finally:
        Path(name).unlink(missing_ok=True)


class _Joined:
    """Files read one after the other as one stream."""

    def __init__(self, handles: list[BinaryIO]):
        self.handles = list(handles)

    def read(self, amount: int) -> bytes:
        while self.handles:
            chunk = self.handles[0].read(amount)
            if chunk:
                return chunk
            self.handles.pop(0)
        return b""


class LocalBlobStore(BlobStore):
    def __init__(self, root: Path, secret_key: str, *, public_url: str = "", expiry_seconds: int = 86400,
                 base_url: str = ""):
        self.root = Path(root)
        self._key = hmac.new(secret_key.encode(), b"local-blob-urls", hashlib.sha256).digest()
        self.public_url = public_url.rstrip("/")
        self.expiry_seconds = expiry_seconds
        self.base_url = (public_url or base_url).rstrip("/")

    def bind(self, base_url: str) -> "LocalBlobStore":
        if self.public_url:
            return self
        bound = object.__new__(LocalBlobStore)
        bound.__dict__.update(self.__dict__, base_url=base_url.rstrip("/"))
        return bound

    # URLs

    def signature(self, method: str, owner: str, hash_: str, expires: int) -> str:
        message = f"{method}\n{owner}\n{hash_}\n{expires}".encode()
        return base64.urlsafe_b64encode(hmac.digest(self._key, message, "sha256")).decode().rstrip("=")

    def _url(self, method: str, owner: str, hash_: str) -> str:
        """`owner` is OWNER for `objs/`, or `staging/OWNER/PUSHER` (no owner name has a slash)."""
        expires = int(time.time()) + self.expiry_seconds
        # Every part is URL-safe already (letters, digits, base64url), so no quoting is needed.
        return f"{self.base_url}/blobs/{owner}/{hash_}?m={method}&e={expires}&s={self.signature(method, owner, hash_, expires)}"

    def verify(self, method: str, owner: str, hash_: str, expires: str, signature: str) -> bool:
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        expected = self.signature(method, owner, hash_, expires_at)
        # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, so a 500).
        given = (signature or "").encode("utf-8", "surrogatepass")
        return hmac.compare_digest(expected.encode(), given) and time.time() <= expires_at

    def object_url(self, method: str, owner: str, hash_: str, batch: str | None = None) -> str:
        _no_batch(batch)
        return self._url(method, owner, hash_)

    def staging_url(self, method: str, owner: str, pusher: str, hash_: str) -> str:
        return self._url(method, f"{STAGING}/{owner}/{pusher}", hash_)

    # Bytes

    def path(self, owner: str, hash_: str, batch: str | None = None) -> Path:
        _no_batch(batch)
        return self.root / object_key(owner, hash_)

    def staging_path(self, owner: str, pusher: str, hash_: str) -> Path:
        return self.root / staging_key(owner, pusher, hash_)

    def sizes(self, owner: str, hashes: Iterable[str], batch: str | None = None) -> dict[str, int]:
        found = {}
        with _storage_errors("sizes"):
            for hash_ in hashes:
                try:
                    found[hash_] = self.path(owner, hash_, batch).stat().st_size
                except FileNotFoundError:
                    pass
        return found

    def write(self, owner: str, hash_: str, stream: BinaryIO, max_bytes: int | None = None) -> None:
        """Store an upload only if its SHA-256 is its name and it is at most `max_bytes` long;
        a failed upload leaves nothing. A stored fragment is never replaced: an upload of one
        it holds already is verified, then dropped."""
        self._receive(self.path(owner, hash_), hash_, stream, max_bytes)

    def write_staged(self, owner: str, pusher: str, hash_: str, stream: BinaryIO,
                     max_bytes: int | None = None) -> None:
        """The same into the pusher's staging folder: kept only if verified, as `accept_staged` relies on."""
        self._receive(self.staging_path(owner, pusher, hash_), hash_, stream, max_bytes)

    def _receive(self, target: Path, hash_: str, stream: BinaryIO, max_bytes: int | None) -> None:
        with _storage_errors("write"):
            target.parent.mkdir(parents=True, exist_ok=True)
            with _spooled(target.parent, stream, max_bytes, "fragment") as (tmp, digest):
                if digest.hexdigest() != hash_:
                    raise BadRequest(f"The SHA-256 of the uploaded bytes is not {hash_}")
                _place(tmp, target)

    def stored_sha256(self, owner: str, hash_: str, batch: str | None = None) -> str | None:
        # Nothing is kept here before its SHA-256 was checked against its name.
        with _storage_errors("checksum"):
            return hash_ if self.path(owner, hash_, batch).is_file() else None

    def read(self, owner: str, hash_: str, limit: int, batch: str | None = None) -> bytes:
        with _storage_errors("read", object_key(owner, hash_)), open(self.path(owner, hash_, batch), "rb") as handle:
            return handle.read(limit)

    def stream(self, owner: str, hash_: str, batch: str | None = None) -> Iterator[bytes]:
        with _storage_errors("stream", object_key(owner, hash_)), open(self.path(owner, hash_, batch), "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def delete(self, owner: str, hash_: str, batch: str | None = None) -> None:
        with _storage_errors("delete"):
            self.path(owner, hash_, batch).unlink(missing_ok=True)

    # Staging and garbage collection

    def staged_sizes(self, owner: str, pusher: str) -> dict[str, int]:
        with _storage_errors("list staged"):
            try:
                entries = list(os.scandir(self.root / STAGING / owner / pusher))
            except FileNotFoundError:
                return {}
            sizes = {}
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    if entry.is_file():
                        sizes[entry.name] = entry.stat().st_size
                except FileNotFoundError:  # accepted by another request or collected by gc meanwhile
                    continue
        return sizes

    def accept_staged(self, owner: str, pusher: str, hash_: str, batch: str | None = None) -> bool:
        # `write` kept the staged file only because its SHA-256 is its name: verified already.
        staged = self.staging_path(owner, pusher, hash_)
        target = self.path(owner, hash_, batch)
        with _storage_errors("accept staged"):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                _place(staged, target)
            except FileNotFoundError:  # removed since it was listed (gc, or another attempt)
                return target.exists()
        return True

    # Transfers v2: parts are files under multipart/UPLOAD_ID/, joined and hashed on completion.
    # A part URL signs the part's checksum; the upload handler checks the bytes against it.

    def single_upload(self, target: UploadTarget, checksum: str) -> SignedRequest:
        # Every PUT to the local store is hashed before it is kept: no checksum header is needed.
        if target.pusher:
            return SignedRequest(self.staging_url("PUT", target.owner, target.pusher, target.hash), {})
        return SignedRequest(self.object_url("PUT", target.owner, target.hash), {})

    def _parts_folder(self, upload_id: str) -> Path:
        if not UPLOAD_ID.match(upload_id):
            raise ValueError("not an upload id of the local store")
        return self.root / MULTIPART / upload_id

    def start_multipart(self, target: UploadTarget) -> str:
        upload_id = secrets.token_hex(16)
        with _storage_errors("start multipart upload"):
            self._parts_folder(upload_id).mkdir(parents=True)
        return upload_id

    @staticmethod
    def part_name(number: int, checksum: str) -> str:
        return f"{number}:{checksum}"

    def part_upload(self, target: UploadTarget, upload_id: str, number: int, checksum: str) -> SignedRequest:
        expires = int(time.time()) + self.expiry_seconds
        signature = self.signature("PUT", f"{MULTIPART}/{upload_id}", self.part_name(number, checksum), expires)
        return SignedRequest(f"{self.base_url}/blobs/{MULTIPART}/{upload_id}/{number}?m=PUT&e={expires}&s={signature}",
                             {"x-amz-checksum-sha256": checksum})

    def write_part(self, upload_id: str, number: int, checksum: str, stream: BinaryIO, max_bytes: int) -> None:
        """Keep a part only if its SHA-256 is `checksum` (base64); a part sent again replaces
        the first copy (same checksum, so the same bytes)."""
        folder = self._parts_folder(upload_id)
        if not folder.is_dir():
            raise BadRequest("No such multipart upload (completed or aborted)")
        with _storage_errors("write part"), _spooled(folder, stream, max_bytes, "part") as (tmp, digest):
            if base64.b64encode(digest.digest()).decode() != checksum:
                raise BadRequest("BadDigest: the SHA-256 of the part is not the checksum it was signed for")
            os.replace(tmp, folder / f"{number:05d}")

    def uploaded_parts(self, target: UploadTarget, upload_id: str) -> dict[int, int] | None:
        with _storage_errors("list parts"):
            try:
                entries = list(os.scandir(self._parts_folder(upload_id)))
            except FileNotFoundError:
                return None
            return {int(entry.name): entry.stat().st_size for entry in entries if entry.name.isdigit()}

    def complete_multipart(self, target: UploadTarget, upload_id: str, checksums: list[str]) -> bool:
        folder = self._parts_folder(upload_id)
        path = (self.staging_path(target.owner, target.pusher, target.hash) if target.pusher
                else self.path(target.owner, target.hash))
        parts: list[BinaryIO] = []
        try:
            with _storage_errors("complete multipart upload"):
                try:
                    for number in range(1, len(checksums) + 1):
                        parts.append(open(folder / f"{number:05d}", "rb"))
                except FileNotFoundError:
                    return False
            self._receive(path, target.hash, _Joined(parts), None)
        except BadRequest:  # the joined bytes are not the fragment
            return False
        finally:
            for part in parts:  # those opened before a missing one too
                part.close()
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def abort_multipart(self, key: str | None, upload_id: str) -> None:
        shutil.rmtree(self._parts_folder(upload_id), ignore_errors=True)

    def pending_multiparts(self) -> Iterator[PendingMultipart]:
        with _storage_errors("list multipart uploads"):
            try:
                entries = list(os.scandir(self.root / MULTIPART))
            except FileNotFoundError:
                return
            for entry in entries:
                try:
                    modified = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if UPLOAD_ID.match(entry.name):
                    yield PendingMultipart(None, entry.name, dt.datetime.fromtimestamp(modified, dt.timezone.utc))

    def list_objects(self, area: str) -> Iterator[StoredObject]:
        with _storage_errors("list"):
            for folder, _, files in os.walk(self.root / area):  # (a folder it cannot read, it skips)
                for name in files:
                    path = Path(folder) / name
                    try:
                        stat = path.stat()
                    except FileNotFoundError:
                        continue  # removed meanwhile (a push moved it into place)
                    yield StoredObject(path.relative_to(self.root).as_posix(), stat.st_size,
                                       dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc))

    def delete_key(self, key: str) -> None:
        with _storage_errors("delete"):
            (self.root / key).unlink(missing_ok=True)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"Blob folder {self.root} is not writable: {exc}") from exc
