"""Progress bars on standard error: bytes and files in total, and one per big file while it
moves. Off unless asked for: the caller decides (a terminal, or the `progress` setting)."""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm


def wanted(setting: str, stream=None) -> bool:
    """`always`, `never`, or `auto`: only when standard error is a terminal."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


class Progress:
    def __init__(self, enabled: bool, label: str, total_bytes: int, total_files: int):
        self._lock = threading.Lock()
        self._bytes = self._files = None
        if enabled and total_files:
            self._bytes = tqdm(total=total_bytes, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                               file=sys.stderr, position=0, leave=True, dynamic_ncols=True)
            self._files = tqdm(total=total_files, desc="Files", unit=" files", file=sys.stderr, position=1,
                               leave=True, dynamic_ncols=True)

    def advance(self, amount: int) -> None:
        if self._bytes is not None and amount:
            with self._lock:
                self._bytes.update(amount)

    def file_done(self) -> None:
        if self._files is not None:
            with self._lock:
                self._files.update(1)

    def file(self, label: str, size: int) -> "FileProgress":
        """A bar of its own for one big file; what it counts counts in the total too."""
        return FileProgress(self, label, size)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        for bar in (self._bytes, self._files):
            if bar is not None:
                bar.close()


class FileProgress:
    def __init__(self, total: Progress, label: str, size: int):
        self.total, self._bar = total, None
        if total._bytes is not None:
            self._bar = tqdm(total=size, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr, leave=False, dynamic_ncols=True)

    def advance(self, amount: int) -> None:
        self.total.advance(amount)
        if self._bar is not None and amount:
            with self.total._lock:
                self._bar.update(amount)

    def file_done(self) -> None:
        self.total.file_done()

    def __enter__(self) -> "FileProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
