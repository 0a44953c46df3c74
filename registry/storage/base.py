"""The one interface that knows where fragment bytes live. Nothing here imports Flask."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import re
from typing import Iterable, Iterator

from ..errors import BadRequest, FragmentMissing

OWNER_RE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")  # \Z: "$" would let a trailing newline through
OBJECTS, STAGING, UPLOADS, MULTIPART = "objs", "staging", "uploads", "multipart"
TEMP_PREFIX = ".upload-"  # the local store's uploads in progress, next to where they will be kept


def object_key(owner: str, hash_: str, batch: str | None = None) -> str:
    """`objs/OWNER/HASH`, or `uploads/OWNER/BATCH/HASH` for a fragment that arrived in an
    upload batch (see `BlobStore.upload_batch`) and stays where it arrived."""
    return f"{OBJECTS}/{owner}/{hash_}" if batch is None else f"{UPLOADS}/{owner}/{batch}/{hash_}"


def fragment_missing(key: str) -> FragmentMissing:
    """What every store answers for a key that holds nothing (the key, never a path or a bucket)."""
    return FragmentMissing(f"Blob storage holds no fragment at {key}")


def batch_prefix(owner: str, batch: str) -> str:
    return f"{UPLOADS}/{owner}/{batch}/"


def staging_key(owner: str, pusher: str, hash_: str) -> str:
    """Where `pusher` uploads a fragment for a package of `owner` that it may not reuse from
    `objs/OWNER/`: nobody else's bytes are there, and nothing there is used before it is verified."""
    return f"{STAGING}/{owner}/{pusher}/{hash_}"


@dataclasses.dataclass(frozen=True)
class UploadTarget:
    """Where a push-plan upload goes: the owner's own key, or (`pusher` set) the staging key of
    a pusher who may not reuse the owner's fragments (see `staging_key`)."""

    owner: str
    hash: str
    pusher: str | None = None
    batch: str | None = None  # the push's upload batch (single uploads of the owner, on S3)

    @property
    def key(self) -> str:
        if self.pusher:
            return staging_key(self.owner, self.pusher, self.hash)
        return object_key(self.owner, self.hash, self.batch)


@dataclasses.dataclass(frozen=True)
class SignedRequest:
    """A presigned URL and the headers the request must carry (they are part of the signature)."""

    url: str
    headers: dict[str, str]


@dataclasses.dataclass(frozen=True)
class PendingMultipart:
    key: str | None  # None where the store does not know it (the local store keeps parts by upload id)
    upload_id: str
    started: dt.datetime  # aware, UTC


@dataclasses.dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: dt.datetime  # aware, UTC


class BlobStore(abc.ABC):
    """Fragments live at `objs/OWNER/HASH`; clients move the bytes through presigned URLs.

    Whatever the store, a failure reaches callers as one of three errors (registry.errors):
    `FragmentMissing` (404) where a method needs an object that is not there (`read`, `stream`),
    `StorageAccessDenied` (503) where the store refuses the registry's own credentials or
    permissions, and `StorageUnavailable` (503) where it does not answer or fails. Never an
    OSError or a botocore error: those stop at the store."""

    def bind(self, base_url: str) -> "BlobStore":
        """The store as seen from one request (the local store needs the URL clients used)."""
        return self

    @abc.abstractmethod
    def object_url(self, method: str, owner: str, hash_: str, batch: str | None = None) -> str:
        """A URL for the fragment's key (`object_key`) signed for one method (GET honours
        `Range: bytes=N-`)."""

    @abc.abstractmethod
    def staging_url(self, method: str, owner: str, pusher: str, hash_: str) -> str:
        """A HEAD or PUT URL for the pusher's staging key (see `staging_key`)."""

    def upload_urls(self, owner: str, hash_: str, batch: str | None = None) -> dict[str, str]:
        """`{"head": url, "put": url}` straight to the fragment's key, each signed for its own method."""
        return {"head": self.object_url("HEAD", owner, hash_, batch), "put": self.object_url("PUT", owner, hash_, batch)}

    def object_urls(self, method: str, owner: str, hashes: list[str], batch: str | None = None) -> list[str]:
        """`object_url` of each hash, in order: a dry run signs 200,000 URLs, which a store may
        sign in one loop."""
        return [self.object_url(method, owner, hash_, batch) for hash_ in hashes]

    def staging_urls(self, method: str, owner: str, pusher: str, hashes: list[str]) -> list[str]:
        """`staging_url` of each hash, in order."""
        return [self.staging_url(method, owner, pusher, hash_) for hash_ in hashes]

    def download_url(self, owner: str, hash_: str, batch: str | None = None) -> str:
        return self.object_url("GET", owner, hash_, batch)

    def upload_batch(self, owner: str, hashes: Iterable[str]) -> str | None:
        """Where the owner uploads the new fragments of one push: None for `objs/OWNER/`, or a
        batch whose keys the push lists at commit, so the check costs what the push holds and
        not what the owner stored before (a store whose existence checks are cheap per
        fragment, like a folder, needs none). The same hashes give the same batch, so the dry
        run and the push agree, and a push run again finds what it uploaded before."""
        return None

    def batch_sizes(self, owner: str, batch: str, expected: int = 0) -> dict[str, int]:
        """Sizes of the fragments uploaded into the batch (a listing of its keys; `expected`,
        how many there may be, lets a store list a large batch in parts at once)."""
        return {}

    @abc.abstractmethod
    def sizes(self, owner: str, hashes: Iterable[str], batch: str | None = None) -> dict[str, int]:
        """Sizes of the fragments that exist; missing ones are left out."""

    @abc.abstractmethod
    def read(self, owner: str, hash_: str, limit: int, batch: str | None = None) -> bytes:
        """The first `limit` bytes of a fragment (README previews); FragmentMissing if it is not stored."""

    @abc.abstractmethod
    def stream(self, owner: str, hash_: str, batch: str | None = None) -> Iterator[bytes]:
        """The fragment's bytes in chunks (verification); FragmentMissing, at the first chunk, if
        it is not stored."""

    @abc.abstractmethod
    def delete(self, owner: str, hash_: str, batch: str | None = None) -> None:
        """Remove a fragment; removing a missing one is not an error."""

    @abc.abstractmethod
    def staged_sizes(self, owner: str, pusher: str) -> dict[str, int]:
        """Sizes of the fragments the pusher has staged for the owner (one listing)."""

    @abc.abstractmethod
    def accept_staged(self, owner: str, pusher: str, hash_: str, batch: str | None = None) -> bool:
        """Verify a staged fragment's SHA-256 and copy it to the fragment's key (`objs/OWNER/HASH`,
        or its batch's where it has a row already) unless that is stored already (a stored
        fragment is never replaced). The staged copy stays until
        `discard_staged` (the push removes it once committed). False, and the staged copy is
        gone, when its bytes are not the hash."""

    def discard_staged(self, owner: str, pusher: str, hash_: str) -> None:
        self.delete_key(staging_key(owner, pusher, hash_))

    # Transfers v2: uploads whose checksums the store checks (see services.uploads)

    @abc.abstractmethod
    def single_upload(self, target: UploadTarget, checksum: str) -> SignedRequest:
        """A PUT of the whole fragment; `checksum` is base64 SHA-256 (`sigv4.checksum_sha256`)."""

    @abc.abstractmethod
    def start_multipart(self, target: UploadTarget) -> str:
        """A new multipart upload to the target; returns its upload id."""

    @abc.abstractmethod
    def part_upload(self, target: UploadTarget, upload_id: str, number: int, checksum: str) -> SignedRequest:
        """A PUT of part `number` (from 1) that the store refuses unless its SHA-256 is `checksum`."""

    @abc.abstractmethod
    def uploaded_parts(self, target: UploadTarget, upload_id: str) -> dict[int, int] | None:
        """Part number -> size of the parts received so far; None if the upload is gone."""

    @abc.abstractmethod
    def complete_multipart(self, target: UploadTarget, upload_id: str, checksums: list[str]) -> bool:
        """Join the parts (all received, checked by the caller) into the fragment. False, and
        nothing stored, when what the store joined is not what was signed."""

    @abc.abstractmethod
    def abort_multipart(self, key: str | None, upload_id: str) -> None:
        """Drop the upload to `key` (`UploadTarget.key`) and its parts; nothing happens if it is gone."""

    def stored_sha256(self, owner: str, hash_: str, batch: str | None = None) -> str | None:
        """The SHA-256 (hex) the store itself computed for the fragment's bytes, if it keeps one."""
        return None

    def import_object(self, owner: str, bucket: str, key: str, version_id: str | None) -> tuple[str, int]:
        """Copy `s3://bucket/key` (at `version_id`, if given) into the owner's fragments; returns
        its SHA-256 and size. Only a store in S3 can."""
        raise BadRequest("s3:// sources need a registry that keeps its blobs in S3")

    @abc.abstractmethod
    def pending_multiparts(self) -> Iterator[PendingMultipart]:
        """Every multipart upload not completed or aborted (garbage collection)."""

    @abc.abstractmethod
    def list_objects(self, area: str) -> Iterator[StoredObject]:
        """Every object under `objs/`, `staging/` or `uploads/` (garbage collection)."""

    @abc.abstractmethod
    def delete_key(self, key: str) -> None:
        """Remove one object by key; removing a missing one is not an error."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StorageUnavailable unless the store answers."""
