"""Blob rows: one per fragment of an owner, written and read in bulk."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import operator
import zlib

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Blob, MultipartUpload
from . import bulk, fragment_sets
from .bulk import CHUNK, chunked, select_in
from .fragment_sets import Stored

__all__ = ["CHUNK", "PreparedRows", "Stored", "add_blobs", "chunked", "completed_uploads", "instance_fragments",
           "instance_sizes", "prepare", "touch"]


def touch(session: Session, owner: str, hashes: Iterable[str]) -> None:
    """Mark the owner's existing fragments as wanted by a push in progress (see services.upkeep)."""
    now = utcnow()
    for chunk in chunked(sorted(hashes)):
        session.execute(update(Blob).where(Blob.owner == owner, Blob.hash.in_(chunk)).values(touched_at=now))


class PreparedRows(NamedTuple):
    """The INSERT statements of `add_blobs` for `fresh`, written ahead (see `prepare`), with the
    checksum that proves each one's ids (see `_assigned_ids`)."""

    fresh: dict[str, Stored]
    ordered: list[str]
    statements: list[bulk.Statement]
    checksums: list[Checksum]


def prepare(owner: str, fresh: dict[str, Stored], dialect: str) -> PreparedRows | None:
    """`add_blobs`' statements for `fresh`, written without the database (so in another thread,
    while the request waits on it); None where they are not SQL text (SQLite)."""
    if dialect not in ("mysql", "mariadb"):
        return None
    ordered = sorted(fresh)
    try:
        statements = bulk.mysql_inserts(Blob.__table__, _columns(owner, fresh, ordered), unchanged="size")
    except bulk.NeedsEscape:  # not for the names, digests and numbers of a push: add_blobs escapes them
        return None
    return PreparedRows(fresh, ordered, statements, _checksums(ordered, [s.rows for s in statements]))


def add_blobs(session: Session, owner: str, fresh: dict[str, Stored],
              prepared: PreparedRows | None = None) -> tuple[dict[str, Stored], dict[str, int]]:
    """Blob rows for fragments that have none yet; returns what the rows say (another push's
    batch where that push added the same fragment first) and their ids. `prepared` statements
    are used if they were written for this very dict."""
    if prepared is not None and prepared.fresh is fresh:
        ordered, checksums = prepared.ordered, prepared.checksums
        statements = bulk.run_inserts(session, prepared.statements)
    else:
        ordered = sorted(fresh)
        statements = bulk.insert_columns(session, Blob.__table__, _columns(owner, fresh, ordered), unchanged="size")
        checksums = None
    ids = _assigned_ids(session, owner, ordered, statements, checksums)
    rows = {h: fresh[h] for h in ids}
    query = select(Blob.id, Blob.hash, Blob.size, Blob.batch).where(Blob.owner == owner)
    for id_, hash_, size, batch in select_in(session, query, Blob.hash, [h for h in ordered if h not in ids]):
        rows[hash_], ids[hash_] = Stored(size, batch), id_
    return rows, ids


def _columns(owner: str, fresh: dict[str, Stored], ordered: list[str]) -> bulk.Columns:
    # In hash order: concurrent pushes then take the unique-key locks in the same order (no deadlock).
    now = utcnow()
    stored = [fresh[h] for h in ordered]
    batches = [s.batch for s in stored]
    return {"hash": ordered, "owner": bulk.Same(owner), "size": [s.size for s in stored],
            "batch": bulk.Same(batches[0]) if len(set(batches)) == 1 else batches,
            "created_at": bulk.Same(now), "touched_at": bulk.Same(now)}


# Only the id range is in WHERE, so the plan is a primary-key range scan of exactly those rows.
# With `owner = :owner` there too, MariaDB often took the unique key while it was (owner, hash)
# (before migration 0009; it covers every column used) and walked all the owner's rows.
_PROOF = text("SELECT COUNT(*), COALESCE(SUM(`owner` = :owner), 0),"
              " COALESCE(SUM(CRC32(`hash`) * (`id` - :first + 1)), 0) FROM `blob` WHERE `id` BETWEEN :first AND :last")


class Checksum(NamedTuple):
    """Of one statement's rows: the sum of each hash's CRC32 times its place in the statement
    (1, 2, ...), as _PROOF computes it from the ids, and the plain sum of the CRC32s."""

    weighted: int
    plain: int


def _checksums(ordered: list[str], counts: list[int]) -> list[Checksum]:
    """The checksum of each statement's rows (`counts` of `ordered`, in turn)."""
    sums, start = [], 0
    for count in counts:
        crcs = list(map(zlib.crc32, map(str.encode, ordered[start:start + count])))
        start += count
        sums.append(Checksum(sum(map(operator.mul, crcs, range(1, count + 1))), sum(crcs)))
    return sums


def _assigned_ids(session: Session, owner: str, ordered: list[str], statements: list[tuple[int, int]],
                  checksums: list[Checksum] | None = None) -> dict[str, int]:
    """The ids MySQL gave the rows of each multi-row INSERT, without reading 100,000 rows back.
    With InnoDB's auto-increment lock mode 0 or 1 (MariaDB's and MySQL 5.7's default) and a step
    of 1, the rows one statement inserts get consecutive ids from its first, in VALUES order.
    A range of ids is proven by one aggregate over exactly those ids: they hold as many rows as
    we inserted, all of the owner, and the sum of each one's hash CRC32 times its place
    (id - first + 1) is the sum for our hashes in VALUES order (`checksums`, computed here if
    not given), so each hash has its id. The statements are proven together when their ids
    follow on (one query), else one by one; a statement that fails (a concurrent push added
    one of its rows first: then that row is not at its id), and any other server, is left to be
    read back."""
    if not statements:
        return {}
    lock_mode, step = session.execute(text("SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment")).one()
    if int(lock_mode) not in (0, 1) or int(step) != 1:
        return {}
    if checksums is None:
        checksums = _checksums(ordered, [count for _, count in statements])
    first, total = statements[0][0], sum(count for _, count in statements)
    if all(later == earlier + count for (earlier, count), (later, _) in zip(statements, statements[1:])):
        # Each statement's places, moved by the rows before it, make the sum over the whole range.
        whole, offset = 0, 0
        for (_, count), checksum in zip(statements, checksums, strict=True):
            whole += checksum.weighted + offset * checksum.plain
            offset += count
        if _proven(session, owner, first, total, whole):
            return dict(zip(ordered, range(first, first + total)))
    found: dict[str, int] = {}
    start = 0
    for (first_id, count), checksum in zip(statements, checksums, strict=True):
        if _proven(session, owner, first_id, count, checksum.weighted):
            found.update(zip(ordered[start:start + count], range(first_id, first_id + count)))
        start += count
    return found


def _proven(session: Session, owner: str, first_id: int, count: int, weighted: int) -> bool:
    # A primary-key range of `count` rows: cheap, however many rows the owner has.
    proof = session.execute(_PROOF, {"owner": owner, "first": first_id, "last": first_id + count - 1}).one()
    return tuple(map(int, proof)) == (count, count, weighted)  # every row in the range is the owner's


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
