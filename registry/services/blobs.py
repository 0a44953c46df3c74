"""Blob rows: one per fragment of an owner, written and read in bulk."""

from __future__ import annotations

from typing import Iterable

import functools
import operator
import zlib

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Blob, MultipartUpload
from . import fragment_sets
from .bulk import CHUNK, chunked, insert_new, select_in
from .fragment_sets import Stored

__all__ = ["CHUNK", "Stored", "add_blobs", "chunked", "completed_uploads", "instance_fragments", "instance_sizes",
           "touch"]


def touch(session: Session, owner: str, hashes: Iterable[str]) -> None:
    """Mark the owner's existing fragments as wanted by a push in progress (see services.upkeep)."""
    now = utcnow()
    for chunk in chunked(sorted(hashes)):
        session.execute(update(Blob).where(Blob.owner == owner, Blob.hash.in_(chunk)).values(touched_at=now))


def add_blobs(session: Session, owner: str, fresh: dict[str, Stored]) -> tuple[dict[str, Stored], dict[str, int]]:
    """Blob rows for fragments that have none yet; returns what the rows say (another push's
    batch where that push added the same fragment first) and their ids."""
    now = utcnow()
    ordered = sorted(fresh)
    # In hash order: concurrent pushes then take the unique-key locks in the same order (no deadlock).
    statements = insert_new(session, Blob.__table__, [
        {"owner": owner, "hash": h, "size": fresh[h].size, "batch": fresh[h].batch, "created_at": now,
         "touched_at": now} for h in ordered], unchanged="size")
    ids = _assigned_ids(session, owner, ordered, statements)
    rows = {h: fresh[h] for h in ids}
    query = select(Blob.id, Blob.hash, Blob.size, Blob.batch).where(Blob.owner == owner)
    for id_, hash_, size, batch in select_in(session, query, Blob.hash, [h for h in ordered if h not in ids]):
        rows[hash_], ids[hash_] = Stored(size, batch), id_
    return rows, ids


_PROOF = text("SELECT COUNT(*), BIT_XOR(CRC32(CONCAT(`hash`, ':', `id`))) FROM `blob`"
               " WHERE `id` BETWEEN :first AND :last AND `owner` = :owner")


def _assigned_ids(session: Session, owner: str, ordered: list[str], statements: list[tuple[int, int]]) -> dict[str, int]:
    """The ids MySQL gave the rows of each multi-row INSERT, without reading 100,000 rows back.
    With InnoDB's auto-increment lock mode 0 or 1 (MariaDB's and MySQL 5.7's default) and a step
    of 1, the rows one statement inserts get consecutive ids from its first, in VALUES order.
    Each statement is proven by one aggregate over exactly those ids: they hold `count` rows of
    the owner, and the XOR of the CRC32s of their hash:id pairs is ours, so each hash has its id.
    A statement that fails (a concurrent push added one of its rows first: then that row is not
    at its id), and any other server, is left to be read back."""
    if not statements:
        return {}
    lock_mode, step = session.execute(text("SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment")).one()
    if int(lock_mode) not in (0, 1) or int(step) != 1:
        return {}
    found: dict[str, int] = {}
    start = 0
    for first_id, count in statements:
        hashes = ordered[start:start + count]
        start += count
        expected = dict(zip(hashes, range(first_id, first_id + count)))
        checksum = functools.reduce(operator.xor, (zlib.crc32(f"{h}:{i}".encode()) for h, i in expected.items()))
        # A primary-key range of `count` rows: cheap, however many rows the owner has.
        proven = session.execute(_PROOF, {"owner": owner, "first": first_id, "last": first_id + count - 1}).one()
        if tuple(map(int, proven)) == (count, checksum):
            found.update(expected)
    return found


def completed_uploads(session: Session, owner: str, pusher: str, hashes: Iterable[str]) -> dict[str, int]:
    """Sizes of the fragments among `hashes` that `pusher` uploaded in parts for `owner`
    (services.uploads), complete: at their key without a HEAD each."""
    query = select(MultipartUpload.hash, MultipartUpload.size).where(
        MultipartUpload.owner == owner, MultipartUpload.pusher == pusher, MultipartUpload.completed_at.is_not(None))
    return dict(select_in(session, query, MultipartUpload.hash, hashes))


def instance_sizes(session: Session, instance_id: int, hashes: Iterable[str] | None = None) -> dict[str, int]:
    """Sizes of the instance's fragments: all of them, or only `hashes` (a subpath's)."""
    return {h: stored.size for h, stored in instance_fragments(session, instance_id, hashes).items()}


def instance_fragments(session: Session, instance_id: int, hashes: Iterable[str] | None = None) -> dict[str, Stored]:
    found = fragment_sets.read(session, instance_id)
    if hashes is None:
        return found
    return {h: found[h] for h in hashes if h in found}
