"""What each local file hashed to, kept next to the local object store (files.sqlite)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path


class KnownFiles:
    """What each local file hashed to, with the stat it had: like git's index, it spares reading
    an unchanged file again. A file modified within the last seconds before it was hashed is
    recorded as *racy* (a write in the same timestamp tick would go unseen): `lookup` does not
    trust it, so it is read again, and `find` offers it only to readers that check the hash. A
    file that changed while it was read is not recorded."""

    RACY_SECONDS = 2
    RACY = "racy:"  # prefix of a racy row's stat: never equal to a file's stat

    def __init__(self, path: Path):
        self.path, self._lock, self._db = path, threading.Lock(), None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")  # a lost row only means hashing a file again
            self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, stat TEXT, hash TEXT, size INTEGER)")
            self._db.execute("CREATE INDEX IF NOT EXISTS files_by_hash ON files (hash)")
        return self._db

    @staticmethod
    def stat_key(info: os.stat_result) -> str:
        return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"

    def lookup(self, source: Path) -> tuple[str, int] | None:
        try:
            now = self.stat_key(os.stat(source))
            with self._lock:
                row = self._connection().execute("SELECT stat, hash, size FROM files WHERE path = ?",
                                                 (str(Path(source).resolve()),)).fetchone()
        except (OSError, sqlite3.Error):
            return None
        return (row[1], row[2]) if row and row[0] == now else None

    def find(self, hash_: str) -> Path | None:
        """A recorded file (racy or not) that hashed to `hash_` and has the stat it had then."""
        return self.find_many([hash_]).get(hash_)

    def find_many(self, hashes) -> dict[str, Path]:
        """`find` for many hashes, one query per 500 of them."""
        hashes = list(hashes)
        if not hashes or (self._db is None and not self.path.exists()):
            return {}  # nothing recorded yet: do not create the record just to look
        rows = []
        try:
            with self._lock:
                for start in range(0, len(hashes), 500):
                    chunk = hashes[start:start + 500]
                    rows += self._connection().execute(
                        f"SELECT hash, path, stat FROM files WHERE hash IN ({','.join('?' * len(chunk))})",
                        chunk).fetchall()
        except sqlite3.Error:
            return {}
        found = {}
        for hash_, path, stat in rows:
            with contextlib.suppress(OSError):
                if hash_ not in found and self.stat_key(os.stat(path)) == stat.removeprefix(self.RACY):
                    found[hash_] = Path(path)
        return found

    def record(self, source: Path, before: os.stat_result, hash_: str, size: int) -> None:
        try:
            after = os.stat(source)
            if self.stat_key(after) != self.stat_key(before):
                return
            racy = after.st_mtime_ns > time.time_ns() - self.RACY_SECONDS * 10 ** 9
            with self._lock:
                self._connection().execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                                           (str(Path(source).resolve()),
                                            (self.RACY if racy else "") + self.stat_key(after), hash_, size))
        except (OSError, sqlite3.Error):
            pass  # only a cache

    def forget(self, source: Path) -> None:
        with contextlib.suppress(sqlite3.Error), self._lock:
            if self._db is not None or self.path.exists():
                self._connection().execute("DELETE FROM files WHERE path = ?", (str(Path(source).resolve()),))
