"""The local object store: fragments by SHA-256 under objs/, partial downloads under tmp/, and the
manifests of built and installed packages under packages/OWNER/NAME/.

A fragment is only ever moved into objs/ after its bytes were hashed, so whatever is in objs/
can be trusted and is never downloaded again.

A push does not copy local files into objs/: it hashes them where they are and keeps a
*reference* (the file's path and stat). Uploads read a referenced file directly, which is safe
because blob storage checks every byte against the SHA-256 signed into the URL. Anything else
that reads a fragment goes through `readable()`, which copies a referenced file into objs/ and
checks its hash first, so readers only ever see verified bytes.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .known_files import KnownFiles
from .tree import is_hash

CHUNK = 1024 * 1024
MOVE_ABOVE = 64 * CHUNK  # installed files above this go into place by a rename, not a copy


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open(path, "w") would give a new file


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _b64(digest) -> str:
    return base64.b64encode(digest.digest()).decode()


def sha256_with_parts(path: Path, part_size: int) -> tuple[str, int, list[str]]:
    """The file's SHA-256, size and the base64 SHA-256 of each `part_size` slice, from one read:
    whatever happens to the file meanwhile, all of them describe the same bytes. The whole-file
    digest is updated in a second thread (hashlib releases the GIL), so this costs one hash."""
    whole, part, parts, in_part, size, pending = hashlib.sha256(), hashlib.sha256(), [], 0, 0, None
    with ThreadPoolExecutor(max_workers=1) as helper, open(path, "rb") as handle:
        while chunk := handle.read(min(CHUNK, part_size - in_part)):
            if pending is not None:
                pending.result()  # the whole-file digest takes the chunks in order
            pending = helper.submit(whole.update, chunk)
            part.update(chunk)
            in_part, size = in_part + len(chunk), size + len(chunk)
            if in_part == part_size:
                parts.append(_b64(part))
                part, in_part = hashlib.sha256(), 0
        if pending is not None:
            pending.result()
    if in_part or not parts:
        parts.append(_b64(part))
    return whole.hexdigest(), size, parts


def part_sha256s(path: Path, size: int, part_size: int) -> list[str]:
    """Base64 SHA-256 of each `part_size` slice of a file, read in 1 MiB chunks. The parts are
    independent and hashlib releases the GIL, so they are hashed on every core at once."""

    def part(start: int) -> str:
        digest, left = hashlib.sha256(), min(part_size, size - start)
        with open(path, "rb") as handle:
            handle.seek(start)
            while left:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise ValueError(f"{path} is shorter than {size} bytes")
                digest.update(chunk)
                left -= len(chunk)
        return _b64(digest)

    starts = range(0, size, part_size)
    if len(starts) <= 1:
        return [part(start) for start in starts]
    with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1)) as pool:
        return list(pool.map(part, starts))


class ObjectStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objs"
        self.tmp = self.root / "tmp"
        self._references: dict[str, tuple[Path, str]] = {}  # hash -> (file, its stat when hashed)
        self.move_above = MOVE_ABOVE

    def path(self, hash_: str) -> Path:
        """Where the fragment is (or goes) in objs/."""
        if not is_hash(hash_):
            raise ValueError(f"not a SHA-256 hex digest: {hash_!r}")
        return self.objects / hash_

    def locate(self, hash_: str) -> Path:
        """Where an upload reads the fragment: objs/, else a file this process hashed for its
        push and that is unchanged since (else the objs/ path, which does not exist)."""
        stored = self.path(hash_)
        if stored.is_file():
            return stored
        return self._pushed(hash_) or stored

    def has(self, hash_: str) -> bool:
        """In objs/, or a file here that hashed to it (readable() checks it before use)."""
        return self._anywhere(hash_) is not None

    def size(self, hash_: str) -> int:
        found = self._anywhere(hash_)
        if found is None:
            raise FileNotFoundError(f"fragment {hash_} is not in the local store")
        return found.stat().st_size

    def missing(self, hashes) -> set[str]:
        """Those of `hashes` that are nowhere here (as `has`, with one query per 500 hashes for
        the files recorded elsewhere, not one per hash: an install of 100,000 fragments asks this)."""
        folder = str(self.objects)
        absent = {h for h in hashes  # os.path, not pathlib: a third of the cost per hash
                  if not (is_hash(h) and os.path.isfile(os.path.join(folder, h))) and self._pushed(h) is None}
        return absent - set(self._known.find_many(absent))

    def _anywhere(self, hash_: str) -> Path | None:
        stored = self.path(hash_)
        return stored if stored.is_file() else self._pushed(hash_) or self._known.find(hash_)

    def readable(self, hash_: str) -> Path | None:
        """The fragment in objs/, copied in from a file that hashed to it (its hash checked again
        while copying) when only such a file is here; None when there is none."""
        stored = self.path(hash_)
        if stored.is_file():
            return stored
        for source in filter(None, (self._pushed(hash_), self._known.find(hash_))):
            with contextlib.suppress(OSError):
                if self._copy_in(source)[0] == hash_:
                    return stored
            self._references.pop(hash_, None)
            self._known.forget(source)
        return None

    def _pushed(self, hash_: str) -> Path | None:
        """A file add_file(copy=False) hashed to `hash_` in this process, if its stat is the same."""
        if hash_ not in self._references:
            return None
        source, stat = self._references[hash_]
        with contextlib.suppress(OSError):
            if KnownFiles.stat_key(os.stat(source)) == stat:
                return source
        del self._references[hash_]
        return None

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
        if not self.path(hash_).is_file():
            with self._scratch() as scratch:
                scratch.write_bytes(data)
                self.commit(scratch, hash_)
        return hash_, len(data)

    def add_file(self, source: Path, *, copy: bool = True,
                 part_size: Callable[[int], int | None] | None = None) -> tuple[str, int]:
        """Hash a file and copy it in while hashing it, so the stored bytes are exactly the
        hashed ones; with copy=False (a push), only hash it and keep a reference to it, and, if
        `part_size` says (from the file's size) that its upload goes in parts, hash its parts in
        the same read. A file added before and unchanged since (same size, mtime, ctime, inode)
        is not read again."""
        before = os.stat(source)
        parts_of = part_size(before.st_size) if part_size else None
        seen = self._known.lookup(source)
        if seen is not None and (not copy or self.path(seen[0]).is_file()):
            hash_, size = seen
        elif copy:
            hash_, size = self._copy_in(source)
        elif parts_of:
            hash_, size, parts = sha256_with_parts(source, parts_of)
            self._save_parts(hash_, parts_of, parts)
        else:
            hash_, size = file_sha256(source)
        if seen is None:
            self._known.record(source, before, hash_, size)
        if not copy:  # stale (and so ignored) if the file changed after `before`
            self._references[hash_] = (Path(source), KnownFiles.stat_key(before))
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
            if not self.path(hash_).is_file():
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
        """Base64 SHA-256 of each part of a fragment, kept under parts/ once computed: a push that
        resumes, or runs again, does not read a big file once more to sign its parts. A
        referenced file's parts are hashed in one read with the whole file, which must still
        hash to `hash_` (ValueError if not): the parts S3 checks are then the pushed bytes."""
        saved = self._parts_file(hash_, part_size)
        source = self.locate(hash_)
        size = source.stat().st_size
        try:
            checksums = json.loads(saved.read_text())
            if isinstance(checksums, list) and len(checksums) == max(1, -(-size // part_size)):
                return checksums
        except (FileNotFoundError, ValueError):
            pass
        if source == self.path(hash_):
            checksums = part_sha256s(source, size, part_size)
        else:
            whole, _, checksums = sha256_with_parts(source, part_size)
            if whole != hash_:
                raise ValueError(f"{source} changed since it was hashed")
        self._save_parts(hash_, part_size, checksums)
        return checksums

    def _parts_file(self, hash_: str, part_size: int) -> Path:
        return self.root / "parts" / f"{self.path(hash_).name}.{int(part_size)}"

    def _save_parts(self, hash_: str, part_size: int, checksums: list[str]) -> None:
        saved = self._parts_file(hash_, part_size)
        saved.parent.mkdir(parents=True, exist_ok=True)
        scratch = saved.with_name(f".{saved.name}.tmp")
        scratch.write_text(json.dumps(checksums))
        os.replace(scratch, saved)

    def copy_out(self, hash_: str, dest: Path) -> None:
        """Write the fragment at `dest`. One above `move_above` bytes is moved there instead (a
        rename: no second write of a big file); the store then keeps a reference to `dest`, and
        reads it back, its hash checked, if it needs the fragment again while `dest` is unchanged."""
        source = self.readable(hash_)
        if source is None:
            raise FileNotFoundError(f"fragment {hash_} is not in the local store")
        dest.parent.mkdir(parents=True, exist_ok=True)
        info = source.stat()
        if info.st_size > self.move_above:
            try:
                os.replace(source, dest)
            except OSError:  # on another file system (or a folder in the way): copy
                pass
            else:
                os.chmod(dest, FILE_MODE)  # objs/ files are private to their creator
                self._known.record(dest, os.stat(dest), hash_, info.st_size)
                return
        shutil.copyfile(source, dest)

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
