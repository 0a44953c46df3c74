"""The local object store: fragments by SHA-256 under objs/, partial downloads under tmp/, and the
manifests of built and installed packages under packages/OWNER/NAME/.

A fragment is only ever moved into objs/ after its bytes were hashed, so whatever is in objs/
can be trusted and is never downloaded again.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from .tree import is_hash

CHUNK = 1024 * 1024


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def part_sha256s(path: Path, size: int, part_size: int) -> list[str]:
    """Base64 SHA-256 of each `part_size` slice of a file, read in 1 MiB chunks."""
    checksums = []
    with open(path, "rb") as handle:
        for start in range(0, size, part_size):
            digest, left = hashlib.sha256(), min(part_size, size - start)
            while left:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise ValueError(f"{path} is shorter than {size} bytes")
                digest.update(chunk)
                left -= len(chunk)
            checksums.append(base64.b64encode(digest.digest()).decode())
    return checksums


class ObjectStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objs"
        self.tmp = self.root / "tmp"

    def path(self, hash_: str) -> Path:
        if not is_hash(hash_):
            raise ValueError(f"not a SHA-256 hex digest: {hash_!r}")
        return self.objects / hash_

    def has(self, hash_: str) -> bool:
        return self.path(hash_).is_file()

    def size(self, hash_: str) -> int:
        return self.path(hash_).stat().st_size

    def partial_path(self, hash_: str) -> Path:
        """Where an interrupted download of `hash_` waits to be resumed."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{self.path(hash_).name}.part"

    def commit(self, source: Path, hash_: str) -> Path:
        """Move a verified file into place (a rename, atomic on one file system)."""
        self.objects.mkdir(parents=True, exist_ok=True)
        target = self.path(hash_)
        os.replace(source, target)
        return target

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        hash_ = hashlib.sha256(data).hexdigest()
        if not self.has(hash_):
            with self._scratch() as scratch:
                scratch.write_bytes(data)
                self.commit(scratch, hash_)
        return hash_, len(data)

    def add_file(self, source: Path) -> tuple[str, int]:
        """Copy a file in while hashing it, so the stored bytes are exactly the hashed ones. A file
        added before and unchanged since (same size, mtime, ctime, inode) is not read again."""
        seen = self._known.lookup(source)
        if seen is not None and self.has(seen[0]):
            return seen
        before = os.stat(source)
        hash_, size = self._copy_in(source)
        self._known.record(source, before, hash_, size)
        return hash_, size

    @functools.cached_property
    def _known(self) -> "KnownFiles":
        return KnownFiles(self.root / "files.sqlite")

    def _copy_in(self, source: Path) -> tuple[str, int]:
        with self._scratch() as scratch:
            digest, size = hashlib.sha256(), 0
            with open(source, "rb") as reader, open(scratch, "wb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    size += len(chunk)
            hash_ = digest.hexdigest()
            if not self.has(hash_):
                self.commit(scratch, hash_)
        return hash_, size

    @contextlib.contextmanager
    def _scratch(self):
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="add-")
        os.close(fd)
        try:
            yield Path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def part_checksums(self, hash_: str, part_size: int) -> list[str]:
        """Base64 SHA-256 of each part of a stored fragment, kept under parts/ once computed: a
        push that resumes, or runs again, does not read a big file once more to sign its parts."""
        saved = self.root / "parts" / f"{self.path(hash_).name}.{int(part_size)}"
        size = self.size(hash_)
        try:
            checksums = json.loads(saved.read_text())
            if isinstance(checksums, list) and len(checksums) == max(1, -(-size // part_size)):
                return checksums
        except (FileNotFoundError, ValueError):
            pass
        checksums = part_sha256s(self.path(hash_), size, part_size)
        saved.parent.mkdir(parents=True, exist_ok=True)
        scratch = saved.with_name(f".{saved.name}.tmp")
        scratch.write_text(json.dumps(checksums))
        os.replace(scratch, saved)
        return checksums

    def copy_out(self, hash_: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(hash_), dest)

    # Manifests of packages built or installed on this machine

    def _package_dir(self, name: str) -> Path:
        owner, package = name.split("/")
        return self.root / "packages" / owner / package

    def save_manifest(self, name: str, top_hash: str, contents: dict) -> None:
        folder = self._package_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        for target, text in ((folder / f"{top_hash}.json", json.dumps(contents, sort_keys=True)),
                             (folder / "latest", top_hash)):
            scratch = target.with_name(f".{target.name}.tmp")
            scratch.write_text(text)
            os.replace(scratch, target)

    def load_manifest(self, name: str, top_hash: str | None = None) -> tuple[str, dict] | None:
        folder = self._package_dir(name)
        try:
            top_hash = top_hash or (folder / "latest").read_text().strip()
            return top_hash, json.loads((folder / f"{top_hash}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None


class KnownFiles:
    """What each local file hashed to, with the stat it had: like git's index, it spares reading
    an unchanged file again. A file modified within the last seconds before it was hashed is not
    recorded (a write in the same timestamp tick would go unseen), nor one that changed while it
    was read."""

    RACY_SECONDS = 2

    def __init__(self, path: Path):
        self.path, self._lock, self._db = path, threading.Lock(), None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")  # a lost row only means hashing a file again
            self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, stat TEXT, hash TEXT, size INTEGER)")
        return self._db

    @staticmethod
    def _stat(info: os.stat_result) -> str:
        return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"

    def lookup(self, source: Path) -> tuple[str, int] | None:
        try:
            now = self._stat(os.stat(source))
            with self._lock:
                row = self._connection().execute("SELECT stat, hash, size FROM files WHERE path = ?",
                                                 (str(Path(source).resolve()),)).fetchone()
        except (OSError, sqlite3.Error):
            return None
        return (row[1], row[2]) if row and row[0] == now else None

    def record(self, source: Path, before: os.stat_result, hash_: str, size: int) -> None:
        try:
            after = os.stat(source)
            if (self._stat(after) != self._stat(before)
                    or after.st_mtime_ns > time.time_ns() - self.RACY_SECONDS * 10 ** 9):
                return
            with self._lock:
                self._connection().execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                                           (str(Path(source).resolve()), self._stat(after), hash_, size))
        except (OSError, sqlite3.Error):
            pass  # only a cache
