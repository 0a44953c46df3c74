"""The local object store: fragments by SHA-256 under objs/, partial downloads under tmp/, and the
manifests of built and installed packages under packages/OWNER/NAME/.

A fragment is only ever moved into objs/ after its bytes were hashed, so whatever is in objs/
can be trusted and is never downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
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
        """Copy a file in while hashing it, so the stored bytes are exactly the hashed ones."""
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
