"""The local object store on its own: files a push hashes where they are (referenced, not copied),
their parts hashed in the same read, big installed files moved into place, and every reader of a
referenced file getting only bytes whose hash was checked."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import time

import pytest

from registry_client.known_files import KnownFiles
from registry_client.store import FILE_MODE, ObjectStore, file_sha256, part_sha256s, sha256_with_parts

PART = 64 * 1024


@pytest.fixture
def store(tmp_path):
    return ObjectStore(tmp_path / "store")


def aged(path):
    """Make a file look written long ago, so the store trusts its stat (it is not *racy*)."""
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def test_sha256_with_parts_is_one_read_of_the_same_bytes(tmp_path):
    data = os.urandom(5 * PART + 123)
    path = tmp_path / "f"
    path.write_bytes(data)
    whole, size, parts = sha256_with_parts(path, PART)
    assert (whole, size) == file_sha256(path)
    assert parts == part_sha256s(path, size, PART) and len(parts) == 6
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_with_parts(empty, PART) == (hashlib.sha256(b"").hexdigest(), 0,
                                              [base64.b64encode(hashlib.sha256(b"").digest()).decode()])


def test_a_pushed_file_is_referenced_not_copied_and_its_parts_hashed_once(tmp_path, store):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 * PART + 1))
    aged(path)
    hash_, size = store.add_file(path, copy=False, part_size=lambda n: PART if n > PART else None)
    assert (hash_, size) == file_sha256(path)
    assert not store.path(hash_).exists(), "a push does not copy the file into objs/"
    assert store.locate(hash_) == path and store.has(hash_) and store.size(hash_) == size
    assert store.missing([hash_]) == set()
    saved = list((store.root / "parts").iterdir())
    assert [p.name for p in saved] == [f"{hash_}.{PART}"], "the parts were hashed with the file"
    assert store.part_checksums(hash_, PART) == part_sha256s(path, size, PART)

    # Readers other than the upload get a copy in objs/ whose hash was checked again.
    assert store.readable(hash_) == store.path(hash_)
    assert store.path(hash_).read_bytes() == path.read_bytes()


def test_a_referenced_file_that_changed_is_never_read_as_the_fragment(tmp_path, store):
    path = tmp_path / "data.bin"
    path.write_bytes(b"a" * 1000)
    aged(path)
    hash_, _ = store.add_file(path, copy=False)
    path.write_bytes(b"b" * 1000)  # a new stat: the reference is stale
    assert store.locate(hash_) == store.path(hash_) and not store.has(hash_)
    assert store.readable(hash_) is None

    # Changed within one timestamp tick (its stat the same as when it was hashed): only the hash
    # catches it, and it does for every reader.
    again = tmp_path / "again.bin"
    again.write_bytes(b"c" * 1000)
    aged(again)
    hash_, _ = store.add_file(again, copy=False)
    again.write_bytes(b"d" * 1000)
    store._references[hash_] = (again, KnownFiles.stat_key(os.stat(again)))
    with pytest.raises(ValueError, match="changed since it was hashed"):
        store.part_checksums(hash_, 400)
    assert store.readable(hash_) is None and not store.path(hash_).exists()
    assert store.locate(hash_) == store.path(hash_), "the wrong file is forgotten"


def test_big_installed_files_are_moved_into_place_and_checked_when_read_back(tmp_path, store):
    data = os.urandom(3000)
    hash_, _ = store.add_bytes(data)
    store.move_above = 1000
    dest = tmp_path / "out" / "big.bin"
    store.copy_out(hash_, dest)
    assert dest.read_bytes() == data and not store.path(hash_).exists(), "moved, not copied"
    assert stat.S_IMODE(os.stat(dest).st_mode) == FILE_MODE
    assert store.has(hash_), "the store knows where the fragment went"
    other = "0" * 64
    assert store.missing([hash_, other]) == {other}, "what an install checks, for many hashes at once"

    # A second install of it reads it back from there, its hash checked on the way in.
    second = tmp_path / "second.bin"
    store.copy_out(hash_, second)
    assert second.read_bytes() == data and dest.read_bytes() == data

    # Once the first copy is edited, it is no longer the fragment.
    small = ObjectStore(tmp_path / "other")
    small_hash, _ = small.add_bytes(b"x" * 2000)
    small.move_above = 1000
    edited = tmp_path / "edited.bin"
    small.copy_out(small_hash, edited)
    edited.write_bytes(b"y" * 2000)
    assert not small.has(small_hash) and small.readable(small_hash) is None
    assert small.missing([small_hash]) == {small_hash}

    kept = ObjectStore(tmp_path / "kept")
    small_hash, _ = kept.add_bytes(b"z" * 500)  # below move_above: copied, the store keeps it
    kept.move_above = 1000
    kept.copy_out(small_hash, tmp_path / "copied.bin")
    assert kept.path(small_hash).is_file() and (tmp_path / "copied.bin").read_bytes() == b"z" * 500


def test_racy_files_are_hashed_again_but_offered_to_checking_readers(tmp_path, store):
    fresh = tmp_path / "fresh.txt"
    fresh.write_bytes(b"just written")
    hash_, size = store.add_file(fresh)
    known_path = store._known.path
    assert known_path.exists()
    known = KnownFiles(known_path)
    assert known.lookup(fresh) is None, "a file written within the racy window is read again"
    assert known.find(hash_) == fresh.resolve()
    aged(fresh)
    assert known.find(hash_) is None, "a new stat: not the file that was hashed"
    known.record(fresh, os.stat(fresh), hash_, size)
    assert known.lookup(fresh) == (hash_, size)
    known.forget(fresh)
    assert known.lookup(fresh) is None and known.find(hash_) is None
