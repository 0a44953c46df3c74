"""The one interface that knows where fragment bytes live. Nothing here imports Flask."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import re
from typing import Iterable, Iterator

OWNER_RE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")  # \Z: "$" would let a trailing newline through
OBJECTS, STAGING = "objs", "staging"
TEMP_PREFIX = ".upload-"  # the local store's uploads in progress, next to where they will be kept


def object_key(owner: str, hash_: str) -> str:
    return f"{OBJECTS}/{owner}/{hash_}"


def staging_key(owner: str, pusher: str, hash_: str) -> str:
    """Where `pusher` uploads a fragment for a package of `owner` that it may not reuse from
    `objs/OWNER/`: nobody else's bytes are there, and nothing there is used before it is verified."""
    return f"{STAGING}/{owner}/{pusher}/{hash_}"


@dataclasses.dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: dt.datetime  # aware, UTC


class BlobStore(abc.ABC):
    """Fragments live at `objs/OWNER/HASH`; clients move the bytes through presigned URLs."""

    def bind(self, base_url: str) -> "BlobStore":
        """The store as seen from one request (the local store needs the URL clients used)."""
        return self

    @abc.abstractmethod
    def object_url(self, method: str, owner: str, hash_: str) -> str:
        """A URL for `objs/OWNER/HASH` signed for one method (GET honours `Range: bytes=N-`)."""

    @abc.abstractmethod
    def staging_url(self, method: str, owner: str, pusher: str, hash_: str) -> str:
        """A HEAD or PUT URL for the pusher's staging key (see `staging_key`)."""

    def upload_urls(self, owner: str, hash_: str) -> dict[str, str]:
        """`{"head": url, "put": url}` straight to `objs/OWNER/HASH`, each signed for its own method."""
        return {"head": self.object_url("HEAD", owner, hash_), "put": self.object_url("PUT", owner, hash_)}

    def download_url(self, owner: str, hash_: str) -> str:
        return self.object_url("GET", owner, hash_)

    @abc.abstractmethod
    def sizes(self, owner: str, hashes: Iterable[str]) -> dict[str, int]:
        """Sizes of the fragments that exist; missing ones are left out."""

    @abc.abstractmethod
    def read(self, owner: str, hash_: str, limit: int) -> bytes:
        """The first `limit` bytes of a fragment (README previews)."""

    @abc.abstractmethod
    def stream(self, owner: str, hash_: str) -> Iterator[bytes]:
        """The fragment's bytes in chunks (verification)."""

    @abc.abstractmethod
    def delete(self, owner: str, hash_: str) -> None:
        """Remove a fragment; removing a missing one is not an error."""

    @abc.abstractmethod
    def staged_sizes(self, owner: str, pusher: str) -> dict[str, int]:
        """Sizes of the fragments the pusher has staged for the owner (one listing)."""

    @abc.abstractmethod
    def accept_staged(self, owner: str, pusher: str, hash_: str) -> bool:
        """Verify a staged fragment's SHA-256 and copy it to `objs/OWNER/HASH` unless that is
        stored already (a stored fragment is never replaced). The staged copy stays until
        `discard_staged` (the push removes it once committed). False, and the staged copy is
        gone, when its bytes are not the hash."""

    def discard_staged(self, owner: str, pusher: str, hash_: str) -> None:
        self.delete_key(staging_key(owner, pusher, hash_))

    @abc.abstractmethod
    def list_objects(self, area: str) -> Iterator[StoredObject]:
        """Every object under `objs/` or `staging/` (garbage collection)."""

    @abc.abstractmethod
    def delete_key(self, key: str) -> None:
        """Remove one object by key; removing a missing one is not an error."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StorageUnavailable unless the store answers."""
