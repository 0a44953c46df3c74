"""Fragment transfers with blob storage: a thread pool, retries with backoff, resumable and
verified downloads, and progress bars.

Blob URLs are presigned: they get no registry headers, never an Authorization header (not even
from ~/.netrc or on a redirect), whatever host they point at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterable

import requests

from . import __version__
from .errors import ClientError, IntegrityError, RegistryUnavailable, TransferError, network_reason
from .progress import Progress
from .store import CHUNK, ObjectStore, file_sha256

RETRY_STATUSES = {429, 500, 502, 503, 504}
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclasses.dataclass(frozen=True)
class Download:
    hash: str
    url: str
    size: int


@dataclasses.dataclass(frozen=True)
class TransferOptions:
    workers: int = 8
    retries: int = 4
    backoff: float = 0.5
    progress: bool = False
    timeout: tuple[float, float] = (10, 300)
    # Downloads above `ranged_above` bytes come in ranges of `range_bytes`, several at once.
    ranged_above: int = 64 * 1024 * 1024
    range_bytes: int = 32 * 1024 * 1024
    # Called with every request actually sent to blob storage (requests.PreparedRequest): lets
    # callers audit transfers, e.g. tests checking Range and the absence of Authorization.
    on_request: Callable[[requests.PreparedRequest], None] | None = None


class _BlobSession(requests.Session):
    def __init__(self):
        super().__init__()
        for scheme in ("http://", "https://"):
            self.mount(scheme, _BlockAdapter())

    def rebuild_auth(self, prepared_request, response):
        prepared_request.headers.pop("Authorization", None)


class _BlockAdapter(requests.adapters.HTTPAdapter):
    """Sends bodies in 1 MiB blocks (urllib3 reads 16 KiB at a time by default: 65,536 Python
    calls per GiB, with eight threads taking turns on the GIL)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **{**kwargs, "blocksize": CHUNK})


def _no_authorization(request):
    request.headers.pop("Authorization", None)
    return request


class _Body:
    """A file body with a known length (so requests sends Content-Length, not chunks) that
    reports progress as it is read."""

    def __init__(self, handle, size: int, advance: Callable[[int], None]):
        self.handle, self.size, self.advance = handle, size, advance

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        chunk = self.handle.read(amount)
        self.advance(len(chunk))
        return chunk

    def __iter__(self):
        while chunk := self.read(CHUNK):
            yield chunk


class Transfers:
    def __init__(self, options: TransferOptions):
        self.options = options
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _BlobSession()
            session.headers["User-Agent"] = f"registry-client/{__version__}"
            if self.options.on_request:
                hook = self.options.on_request
                session.hooks["response"].append(lambda response, *args, **kwargs: hook(response.request))
        return session

    def _request(self, method: str, url: str, *, headers: dict | None = None,
                 body: Callable[[], object] | None = None, stream: bool = False) -> requests.Response:
        for attempt in range(self.options.retries + 1):
            last = attempt == self.options.retries
            try:
                response = self._session().request(
                    method, url, headers=headers, data=body() if body else None, stream=stream,
                    timeout=self.options.timeout, auth=_no_authorization, allow_redirects=method != "PUT")
            except NETWORK_ERRORS as exc:
                if last:
                    raise RegistryUnavailable(f"Cannot reach blob storage at {_host(url)} ({network_reason(exc)}).",
                                              "Check the network and run the command again.") from None
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                response.close()
            time.sleep(self.options.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _run(self, jobs: list[Callable[[], None]]) -> None:
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.options.workers, len(jobs)))
        try:
            futures = [pool.submit(job) for job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:  # the first failure, or Ctrl-C, stops what has not started; partial files resume later
            pool.shutdown(wait=True, cancel_futures=True)
        failures = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failures:
            first = failures[0]
            if isinstance(first, ClientError):
                raise first
            raise TransferError(f"Transfer failed: {first!r}") from first

    # Uploads (push): see uploads.PlannedUploads

    # Downloads (install, fetch)

    def download(self, items: Iterable[Download], store: ObjectStore, label: str = "Downloading") -> int:
        """Fetch the fragments the store lacks, verify each, move it into place; returns the count."""
        unique = {i.hash: i for i in items}
        items = [unique[h] for h in sorted(store.missing(unique))]
        with Progress(self.options.progress, label, sum(i.size for i in items), len(items)) as progress:
            def job(item: Download) -> Callable[[], None]:
                return lambda: self._download_one(item, store, progress)
            self._run([job(item) for item in items])
        return len(items)

    def _download_one(self, item: Download, store: ObjectStore, progress: Progress) -> None:
        if item.size > self.options.ranged_above:
            with progress.file(f"{item.hash[:12]} in ranges", item.size) as bar:
                return self._download_ranged(item, store, bar)
        part = store.partial_path(item.hash)
        resumed = part.exists() and 0 < part.stat().st_size <= item.size
        for attempt in range(self.options.retries + 1):
            try:
                self._fetch_part(item, part, progress)
                break
            except NETWORK_ERRORS as exc:  # dropped mid-stream: the next attempt resumes
                if attempt == self.options.retries:
                    raise RegistryUnavailable(f"Download of {item.hash[:12]} kept failing ({network_reason(exc)}).",
                                              "Run the command again: it resumes where it stopped.") from None
                time.sleep(self.options.backoff * 2 ** attempt)
        if file_sha256(part)[0] == item.hash:
            store.commit(part, item.hash)
            progress.file_done()
            return
        progress.advance(-part.stat().st_size)
        part.unlink()
        if resumed:  # the partial file itself may have been bad: start once from scratch
            return self._download_one(item, store, progress)
        raise IntegrityError(
            f"Fragment {item.hash} from {_host(item.url)} does not match its SHA-256; it was not saved.",
            "The copy in blob storage is damaged. Ask the package owner to push the package again.")

    def _fetch_part(self, item: Download, part: Path, progress: Progress) -> None:
        start = part.stat().st_size if part.exists() else 0
        if start > item.size:
            part.unlink()
            start = 0
        progress.advance(start)
        if item.size and start == item.size:
            return
        # A zero-byte fragment is fetched without Range: some stores refuse `bytes=0-` on it.
        headers = {"Range": f"bytes={start}-"} if item.size else {}
        response = self._request("GET", item.url, headers=headers, stream=True)
        with response:
            if response.status_code == 206:
                if not response.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
                    raise TransferError(f"Unexpected Content-Range for {item.hash[:12]}: "
                                        f"{response.headers.get('Content-Range')!r}")
                mode = "ab"
            elif response.status_code == 200:
                progress.advance(-start)  # the store sent everything: start over
                start, mode = 0, "wb"
            else:
                hint = ("The download URL may have expired: run the command again."
                        if response.status_code == 403 else "")
                raise TransferError(f"Blob storage answered HTTP {response.status_code} for "
                                    f"{item.hash[:12]}: {_excerpt(response)}", hint)
            _save(response, part, mode, progress)


    def _download_ranged(self, item: Download, store: ObjectStore, progress: Progress) -> None:
        """A big fragment in ranges fetched in parallel, each written in place into one file (an
        interrupted install resumes every range where it stopped), hashed before it is kept."""
        ranged = RangedFile(store.partial_path(item.hash), item.size, self.options.range_bytes)
        resumed = any(ranged.done(index) for index in range(ranged.count))
        hasher = _FollowingHasher(ranged)
        try:
            def fetch(index: int) -> None:
                for attempt in range(self.options.retries + 1):
                    try:
                        return self._fetch_range(item, ranged, index, progress)
                    except NETWORK_ERRORS as exc:
                        if attempt == self.options.retries:
                            raise RegistryUnavailable(
                                f"Download of {item.hash[:12]} kept failing ({network_reason(exc)}).",
                                "Run the command again: it resumes where it stopped.") from None
                        time.sleep(self.options.backoff * 2 ** attempt)

            with ThreadPoolExecutor(max_workers=max(1, min(self.options.workers, ranged.count))) as pool:
                for future in [pool.submit(fetch, index) for index in range(ranged.count)]:
                    future.result()
            digest = hasher.result()
        finally:
            hasher.stop()
            ranged.close()
        if digest != item.hash:
            ranged.discard()
            progress.advance(-item.size)
            if resumed:  # what an earlier install left may have been bad: start once from scratch
                return self._download_ranged(item, store, progress)
            raise IntegrityError(
                f"Fragment {item.hash} from {_host(item.url)} does not match its SHA-256; it was not saved.",
                "The copy in blob storage is damaged. Ask the package owner to push the package again.")
        ranged.state.unlink()
        store.commit(ranged.path, item.hash)
        progress.file_done()

    def _fetch_range(self, item: Download, ranged: "RangedFile", index: int, progress: Progress) -> None:
        first, last = ranged.span(index)
        have = ranged.done(index)
        progress.advance(have)
        if first + have > last:
            return
        response = self._request("GET", item.url, headers={"Range": f"bytes={first + have}-{last}"}, stream=True)
        with response:
            expected = f"bytes {first + have}-{last}/"
            if response.status_code != 206 or not response.headers.get("Content-Range", "").startswith(expected):
                progress.advance(-have)
                raise TransferError(f"Blob storage answered HTTP {response.status_code} "
                                    f"({response.headers.get('Content-Range')!r}) for a range of {item.hash[:12]}",
                                    "The download URL may have expired: run the command again.")
            try:
                for chunk in response.iter_content(CHUNK):
                    ranged.write(index, chunk)
                    progress.advance(len(chunk))
            except NETWORK_ERRORS:
                progress.advance(-ranged.done(index))  # the next attempt counts the range again
                raise


class _FollowingHasher:
    """Hashes a ranged download from its file while it arrives: each range once it and all before
    it are complete (read back from the file, as a hash after the download would), so the hash is
    ready when the last range is, instead of a second pass over the whole file after it."""

    def __init__(self, ranged: "RangedFile"):
        self.ranged, self.digest, self.next = ranged, hashlib.sha256(), 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while self.next < self.ranged.count and not self._stopped.is_set():
            with self.ranged.changed:
                if not self.ranged.complete(self.next):
                    self.ranged.changed.wait(0.1)  # woken when a range completes, or on stop()
                    continue
            first, last = self.ranged.span(self.next)
            for start in range(first, last + 1, CHUNK):
                self.digest.update(self.ranged.read(start, min(CHUNK, last + 1 - start)))
            self.next += 1

    def result(self) -> str:
        """The SHA-256 of the file, once every range is complete."""
        self._thread.join()
        return self.digest.hexdigest()

    def stop(self) -> None:
        self._stopped.set()
        with self.ranged.changed:
            self.ranged.changed.notify_all()
        self._thread.join()


class RangedFile:
    """A download in ranges written in place: `path` has the fragment's size, and `path.state`
    counts the bytes each range has written (8 bytes per range after the range size), updated
    after the data, so a killed install resumes every range where it stopped and none twice."""

    def __init__(self, path: Path, size: int, step: int):
        self.path, self.size, self.step = path, size, step
        self.count = max(1, -(-size // step))
        self.state = path.with_name(path.name + ".state")
        header = struct.pack("<Q", step)
        try:
            saved = self.state.read_bytes()
            fresh = not (saved[:8] == header and len(saved) == 8 * (self.count + 1)
                         and self.path.stat().st_size == size)
        except FileNotFoundError:
            fresh = True
        self._data = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if fresh else 0), 0o644)
        if fresh:
            os.ftruncate(self._data, size)
            self.state.write_bytes(header + bytes(8 * self.count))
        self._counts = os.open(self.state, os.O_RDWR)
        self.changed = threading.Condition()  # notified when a range completes
        self._done = list(struct.unpack(f"<{self.count}Q", os.pread(self._counts, 8 * self.count, 8)))

    def span(self, index: int) -> tuple[int, int]:
        return index * self.step, min((index + 1) * self.step, self.size) - 1

    def complete(self, index: int) -> bool:
        first, last = self.span(index)
        return self._done[index] == last - first + 1

    def read(self, offset: int, size: int) -> bytes:
        return os.pread(self._data, size, offset)

    def done(self, index: int) -> int:
        return self._done[index]

    def write(self, index: int, data: bytes) -> None:
        first, last = self.span(index)
        if self._done[index] + len(data) > last - first + 1:
            raise TransferError("Blob storage sent more bytes than the range asked for.")
        os.pwrite(self._data, data, first + self._done[index])
        self._done[index] += len(data)
        os.pwrite(self._counts, struct.pack("<Q", self._done[index]), 8 * (index + 1))
        if self._done[index] == last - first + 1:
            with self.changed:
                self.changed.notify_all()

    def close(self) -> None:
        os.close(self._data)
        os.close(self._counts)

    def discard(self) -> None:
        for path in (self.path, self.state):
            path.unlink(missing_ok=True)


def _save(response: requests.Response, path: Path, mode: str, progress: Progress) -> None:
    """The response body into `path` ("ab": after what is there), counted as it arrives."""
    with open(path, mode) as handle:
        try:
            for chunk in response.iter_content(CHUNK):
                handle.write(chunk)
                progress.advance(len(chunk))
        except NETWORK_ERRORS:
            progress.advance(-handle.tell())  # the next attempt counts the file again
            raise


def _host(url: str) -> str:
    return url.split("/")[2] if "://" in url else url


def _excerpt(response: requests.Response) -> str:
    try:
        return response.text[:200]
    except Exception:  # noqa: BLE001 - a body we cannot decode is only a detail
        return ""
