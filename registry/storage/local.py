"""Fragments in a folder, served by the registry itself through signed, expiring URLs.

The URLs carry `m` (the one HTTP method they allow), `e` (expiry, epoch seconds) and `s`
(an HMAC over method, owner, hash and expiry), so they work like S3 presigned URLs: any
change to them, or using one after it expires, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import BadRequest, StorageUnavailable
from .base import BlobStore, object_key

CHUNK = 1024 * 1024


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
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def _url(self, method: str, owner: str, hash_: str) -> str:
        expires = int(time.time()) + self.expiry_seconds
        # Every part is URL-safe already (letters, digits, base64url), so no quoting is needed.
        return f"{self.base_url}/blobs/{owner}/{hash_}?m={method}&e={expires}&s={self.signature(method, owner, hash_, expires)}"

    def verify(self, method: str, owner: str, hash_: str, expires: str, signature: str) -> bool:
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        expected = self.signature(method, owner, hash_, expires_at)
        return hmac.compare_digest(expected, signature or "") and time.time() <= expires_at

    def upload_urls(self, owner: str, hash_: str) -> dict[str, str]:
        return {"head": self._url("HEAD", owner, hash_), "put": self._url("PUT", owner, hash_)}

    def download_url(self, owner: str, hash_: str) -> str:
        return self._url("GET", owner, hash_)

    # Bytes

    def path(self, owner: str, hash_: str) -> Path:
        return self.root / object_key(owner, hash_)

    def sizes(self, owner: str, hashes: Iterable[str]) -> dict[str, int]:
        found = {}
        for hash_ in hashes:
            try:
                found[hash_] = self.path(owner, hash_).stat().st_size
            except FileNotFoundError:
                pass
        return found

    def write(self, owner: str, hash_: str, stream: BinaryIO) -> None:
        """Store an upload only if its SHA-256 is its name; a failed upload leaves nothing."""
        target = self.path(owner, hash_)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            if digest.hexdigest() != hash_:
                raise BadRequest(f"The SHA-256 of the uploaded bytes is not {hash_}")
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def read(self, owner: str, hash_: str, limit: int) -> bytes:
        with open(self.path(owner, hash_), "rb") as handle:
            return handle.read(limit)

    def stream(self, owner: str, hash_: str) -> Iterator[bytes]:
        with open(self.path(owner, hash_), "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def delete(self, owner: str, hash_: str) -> None:
        self.path(owner, hash_).unlink(missing_ok=True)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"Blob folder {self.root} is not writable: {exc}") from exc
