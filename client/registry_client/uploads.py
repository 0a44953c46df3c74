"""Pushing with the registry's push plan (Transfers v2): no HEAD per fragment; small fragments
in one PUT, big ones in parts sent in parallel, each PUT carrying the SHA-256 the registry
signed into its URL (blob storage refuses other bytes). An interrupted multipart upload resumes:
the registry keeps it, and answers the same upload, with the parts it has, when asked again.

Memory stays bounded whatever the file size: parts are streamed from disk, never read whole.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .errors import ClientError, TransferError
from .progress import Progress
from .store import ObjectStore, part_sha256s
from .transfer import Transfers, _Body, _excerpt

EXPIRED = 403  # what S3 (and the local store) answer for an expired or refused signature
MiB = 1024 ** 2


def part_sizer(session) -> Callable[[int], int | None]:
    """The part size the registry's push plan will give a fragment of a given size (None: one
    PUT), by the rule its `/api/limits` publishes; a push hashes those parts while it hashes the
    file. Without the limits (an older registry), nothing is predicted."""
    try:
        limits = session.request("GET", "/api/limits")["uploads"]
        threshold, smallest, most = (int(limits[k]) for k in ("multipart_threshold_bytes", "min_part_bytes", "max_parts"))
    except (ClientError, KeyError, TypeError, ValueError):
        return lambda size: None
    if smallest <= 0 or most <= 0:
        return lambda size: None

    def part_size(size: int) -> int | None:
        if size <= threshold:
            return None
        fewest = -(-size // most)  # the smallest part size that keeps within `most` parts
        return max(smallest, -(-fewest // MiB) * MiB)
    return part_size


@dataclasses.dataclass(frozen=True)
class Planned:
    hash: str
    path: Path
    size: int
    action: dict  # the plan's entry: {"action": "stored" | "single" | "multipart", ...}
    ensure: Callable[[], None] | None = None  # fetch the fragment into the local store first


class _Slice:
    """`size` bytes of a file from `offset`, read lazily (one part, never in memory whole)."""

    def __init__(self, path: Path, offset: int, size: int):
        self.handle = open(path, "rb")
        self.handle.seek(offset)
        self.left = size

    def read(self, amount: int = -1) -> bytes:
        amount = self.left if amount is None or amount < 0 else min(amount, self.left)
        chunk = self.handle.read(amount)
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.handle.close()


class PlannedUploads:
    def __init__(self, transfers: Transfers, session, owner: str, package: str, store: ObjectStore | None = None):
        self.transfers, self.session, self.store = transfers, session, store
        self.owner, self.package = owner, package
        self.sent_parts = 0  # for callers (and tests): parts actually uploaded
        self._lock = threading.Lock()

    def run(self, items: list[Planned], label: str) -> int:
        """Upload what the plan asks for; returns how many fragments were sent."""
        work = [item for item in items if item.action["action"] != "stored"]
        with Progress(self.transfers.options.progress, label, sum(i.size for i in work), len(work)) as progress:
            self.transfers._run([self._job(item, progress) for item in work])
        return len(work)

    def _job(self, item: Planned, progress: Progress) -> Callable[[], None]:
        def job() -> None:
            if item.ensure is not None and not item.path.exists():
                item.ensure()
            if item.action["action"] == "single":
                self._put(item.hash, item.action, item.path, 0, item.size, progress, lambda: self._replan(item))
            else:
                with progress.file(f"{item.hash[:12]} in parts", item.size) as bar:
                    self._multipart(item, bar)
            progress.file_done()
        return job

    def _put(self, hash_: str, entry: dict, path: Path, offset: int, size: int, progress: Progress,
             refresh: Callable[[], dict] | None = None) -> None:
        """One PUT from the file, retried on network errors and 5xx; an expired URL is refreshed once."""
        for fresh in (False, True):
            counted, bodies = [0], []

            def advance(amount: int) -> None:
                counted[0] += amount
                progress.advance(amount)

            def body():  # a fresh body for every attempt, uncounting what a failed one had sent
                progress.advance(-counted[0])
                counted[0] = 0
                if size == 0:
                    return b""
                bodies.append(_Slice(path, offset, size))
                return _Body(bodies[-1], size, advance)

            headers = {**entry.get("headers", {}), "Content-Length": str(size)}
            try:
                response = self.transfers._request("PUT", entry["url"], body=body, headers=headers)
            finally:
                for opened in bodies:
                    opened.close()
            if response.status_code < 300:
                return
            progress.advance(-counted[0])
            if response.status_code == EXPIRED and refresh is not None and not fresh:
                entry = refresh()
                if entry is None:  # meanwhile stored (e.g. by another push): nothing left to send
                    progress.advance(size)
                    return
                continue
            if self._changed(hash_, path):  # what blob storage refused is the file's new bytes
                raise TransferError(f"{path} changed while it was being pushed "
                                    f"(blob storage refused its bytes: HTTP {response.status_code}).",
                                    "Run the push again: it hashes the file anew.")
            raise TransferError(f"Blob storage refused the upload of {hash_[:12]}: "
                                f"HTTP {response.status_code} {_excerpt(response)}",
                                "Run the push again: what was uploaded is not sent again.")

    def _changed(self, hash_: str, path: Path) -> bool:
        """Whether `path`, a file the push hashed where it is, is no longer as it was then."""
        return self.store is not None and path != self.store.path(hash_) and self.store.locate(hash_) != path

    def _replan(self, item: Planned) -> dict | None:
        """A fresh single-upload URL for one fragment (its URL expired): the plan asked again."""
        answer = self.session.request("POST", f"/api/v2/push-plan/{self.owner}/{self.package}",
                                      json_body={"fragments": {item.hash: item.size}})
        entry = answer["fragments"][item.hash]
        if entry["action"] == "stored":
            return None
        if entry["action"] != "single":
            raise TransferError(f"The registry now asks for {item.hash[:12]} in parts.", "Run the push again.")
        return entry

    def _multipart(self, item: Planned, progress: Progress) -> None:
        part_size = item.action["part_size"]
        try:  # the store keeps them (the resume state of a big push); a bare file is read once
            checksums = (self.store.part_checksums(item.hash, part_size) if self.store is not None
                         else part_sha256s(item.path, item.size, part_size))
        except (ValueError, OSError):
            raise TransferError(f"{item.path} changed while it was being pushed.",
                                "Run the push again: it hashes the file anew.") from None
        upload = self.session.request("POST", f"/api/v2/multipart/{self.owner}/{self.package}",
                                      json_body={"hash": item.hash, "size": item.size, "checksums": checksums})
        if upload.get("stored"):
            progress.advance(item.size)
            return
        token, part_size = upload["upload"], upload["part_size"]
        done = set(upload["done"])
        progress.advance(sum(min(part_size, item.size - (n - 1) * part_size) for n in done))
        urls = {entry["number"]: entry for entry in upload["urls"]}
        waiting = [n for n in range(1, upload["parts"] + 1) if n not in done]

        def fetch(numbers: list[int]) -> None:
            answer = self.session.request("POST", f"/api/v2/multipart/{token}/urls", json_body={"parts": numbers})
            with self._lock:
                urls.update((entry["number"], entry) for entry in answer["urls"])

        def send(number: int) -> None:
            with self._lock:
                entry = urls.get(number)
            if entry is None:
                fetch([number])
                entry = urls[number]
            offset = (number - 1) * part_size

            def refresh() -> dict:
                fetch([number])
                return urls[number]

            self._put(item.hash, entry, item.path, offset, min(part_size, item.size - offset), progress, refresh)
            with self._lock:
                self.sent_parts += 1

        # The parts of one file in parallel, in a pool of their own (the fragment's job holds a
        # thread of the outer pool): at most `workers` parts in flight, each streamed from disk.
        with ThreadPoolExecutor(max_workers=max(1, min(self.transfers.options.workers, len(waiting)))) as pool:
            for future in [pool.submit(send, number) for number in waiting]:
                future.result()
        self.session.request("POST", f"/api/v2/multipart/{token}/complete")
