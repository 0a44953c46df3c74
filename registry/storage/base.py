"""The one interface that knows where fragment bytes live. Nothing here imports Flask."""

from __future__ import annotations

import abc
import re
from typing import Iterable, Iterator

OWNER_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def object_key(owner: str, hash_: str) -> str:
    return f"objs/{owner}/{hash_}"


class BlobStore(abc.ABC):
    """Fragments live at `objs/OWNER/HASH`; clients move the bytes through presigned URLs."""

    def bind(self, base_url: str) -> "BlobStore":
        """The store as seen from one request (the local store needs the URL clients used)."""
        return self

    @abc.abstractmethod
    def upload_urls(self, owner: str, hash_: str) -> dict[str, str]:
        """`{"head": url, "put": url}`, each signed for its own method."""

    @abc.abstractmethod
    def download_url(self, owner: str, hash_: str) -> str:
        """A GET URL that honours `Range: bytes=N-`."""

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
    def check(self) -> None:
        """Raise StorageUnavailable unless the store answers."""
