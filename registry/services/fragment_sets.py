"""The fragments of an instance, stored as content-defined chunks shared between instances.

The sorted hashes are cut after every hash whose last byte is a multiple of 64 (one in 64, as
the hashes are uniform; the last byte says nothing about the place in the sorted order), so a
chunk holds about 64 fragments and its bounds depend only on the hashes around it: two
instances that differ in ten fragments of 100,000 differ in at most twenty chunks. A new
instance therefore writes the chunks that changed (their ~1,300 fragment links) plus one small
row per chunk (`instance_chunk`, ~1,600 for 100,000 fragments), instead of 100,000 link rows;
and an install reads those rows of packed records instead of 100,000 joined ones. About 64
balances the two: larger chunks mean fewer rows per instance but more per changed fragment.

A record is 56 bytes: the hash (32), the size (8, big-endian) and the upload batch (16, zero
for `objs/OWNER/HASH`), all copied from the blob row, which never changes while a chunk holds it.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from typing import Iterable, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Blob, ChunkBlob, FragmentChunk, InstanceChunk
from .bulk import chunked, insert_columns, insert_new, select_in

RECORD = struct.Struct(">32sQ16s")
NO_BATCH = bytes(16)
CUT_EVERY = 64
MAX_CHUNK = 1024  # a run of 1,024 hashes without a cut point is cut anyway (odds: about e^-16)


class Stored(NamedTuple):
    """What the registry knows of a stored fragment: its size and the upload batch holding it."""

    size: int
    batch: str | None = None


class Chunk(NamedTuple):
    digest: str
    hashes: list[str]
    records: bytes


def cut(owner: str, fragments: dict[str, Stored]) -> list[Chunk]:
    ordered = sorted(fragments)
    count = len(ordered)
    raw = bytes.fromhex("".join(ordered))  # the hashes, 32 bytes each, in order
    sizes = struct.pack(f">{count}Q", *(fragments[h].size for h in ordered))
    batches = [fragments[h].batch for h in ordered]
    if len(set(batches)) == 1:  # usual: one upload batch, or none, for all
        batch = bytes.fromhex(batches[0]) if batches and batches[0] else NO_BATCH
        records = b"".join(raw[32 * i:32 * i + 32] + sizes[8 * i:8 * i + 8] + batch for i in range(count))
    else:
        records = b"".join(raw[32 * i:32 * i + 32] + sizes[8 * i:8 * i + 8] + (bytes.fromhex(b) if b else NO_BATCH)
                           for i, b in enumerate(batches))
    chunks, start = [], 0
    for end in [*_cut_points(raw[31::32]), count]:
        while end - start > MAX_CHUNK:
            chunks.append(_chunk(owner, ordered[start:start + MAX_CHUNK], records, start))
            start += MAX_CHUNK
        if end > start:
            chunks.append(_chunk(owner, ordered[start:end], records, start))
            start = end
    return chunks


_ENDS_A_CHUNK = bytes(int(value % CUT_EVERY == 0) for value in range(256))


def _cut_points(last_bytes: bytes) -> list[int]:
    """After which hashes a chunk ends by content: those whose last byte is a multiple of
    CUT_EVERY (as the index just past each)."""
    marks = last_bytes.translate(_ENDS_A_CHUNK)
    points, at = [], marks.find(1)
    while at >= 0:
        points.append(at + 1)
        at = marks.find(1, at + 1)
    return points


def _chunk(owner: str, hashes: list[str], records: bytes, first: int = 0) -> Chunk:
    """The chunk of `hashes`, whose records start at record `first` of `records`."""
    own = records[RECORD.size * first:RECORD.size * (first + len(hashes))]
    return Chunk(hashlib.sha256(owner.encode() + b"\0" + own).hexdigest(), hashes, own)


def unpack(records: bytes) -> Iterable[tuple[str, Stored]]:
    for raw_hash, size, batch in RECORD.iter_unpack(records):
        yield raw_hash.hex(), Stored(size, batch.hex() if batch != NO_BATCH else None)


class Planned(NamedTuple):
    """The chunks of `fragments`, cut ahead of time: while a push waits for storage's listing,
    for the fragment set it will have if every fragment arrived as expected."""

    fragments: dict[str, Stored]
    chunks: list[Chunk]


def plan(owner: str, fragments: dict[str, Stored]) -> Planned:
    return Planned(fragments, cut(owner, fragments))


def write(session: Session, instance_id: int, owner: str, fragments: dict[str, Stored],
          blob_ids: dict[str, int] | None = None, planned: Planned | None = None) -> None:
    """Link the instance to the chunks of `fragments` (every one has a blob row of `owner`;
    `blob_ids` are the ids the caller knows already), creating the chunks no instance has yet.
    `planned` chunks are used if they were cut from these very fragments."""
    chunks = planned.chunks if planned is not None and planned.fragments == fragments else cut(owner, fragments)
    _link(session, instance_id, owner, chunks, [], blob_ids or {})


def write_changes(session: Session, instance_id: int, owner: str, base_id: int, removed: set[str],
                  added: dict[str, Stored], blob_ids: dict[str, int] | None = None) -> None:
    """Link the instance to the fragment set of the instance `base_id` with `removed` taken out
    and `added` put in: the same chunks `write` makes of the whole set, at the cost of the
    change. Cut points depend only on the hashes around them, so only the base's chunks that a
    change falls in are read and cut again (with the next ones while the new cuts have not met
    the base's again); every other chunk is the base's own."""
    bounds = _bounds(session, base_id)
    if not bounds:
        write(session, instance_id, owner, added, blob_ids)
        return
    firsts = [first for first, _ in bounds]
    out = {bytes.fromhex(h) for h in removed}
    put: dict[int, list[bytes]] = {}
    hit: set[int] = set()
    for raw in sorted(out | {bytes.fromhex(h) for h in added}):
        index = max(bisect.bisect_right(firsts, raw) - 1, 0)
        hit.add(index)
        if raw not in out:
            stored = added[raw.hex()]
            put.setdefault(index, []).append(
                RECORD.pack(raw, stored.size, bytes.fromhex(stored.batch) if stored.batch else NO_BATCH))
    records = _records(session, [bounds[i][1] for i in hit])
    chunks: list[Chunk] = []
    kept: list[int] = []
    index = 0
    while index < len(bounds):
        if index not in hit:
            kept.append(bounds[index][1])
            index += 1
            continue
        hashes: list[str] = []
        packed: list[bytes] = []
        while True:  # one region: from a changed chunk until a new cut falls where the base had one
            chunk_id = bounds[index][1]
            if chunk_id not in records:
                records.update(_records(session, [chunk_id]))
            entries = [r for r in _split(records[chunk_id]) if r[:32] not in out] + put.get(index, [])
            for record in sorted(entries):
                hashes.append(record[:32].hex())
                packed.append(record)
                if record[31] % CUT_EVERY == 0 or len(hashes) == MAX_CHUNK:
                    chunks.append(_chunk(owner, hashes, b"".join(packed)))
                    hashes, packed = [], []
            index += 1
            if index == len(bounds) or (not hashes and index not in hit):
                break
        if hashes:
            chunks.append(_chunk(owner, hashes, b"".join(packed)))
    _link(session, instance_id, owner, chunks, kept, blob_ids or {})


def _link(session: Session, instance_id: int, owner: str, chunks: list[Chunk], chunk_ids: list[int],
          blob_ids: dict[str, int]) -> None:
    """Link the instance to `chunks` (created where no instance has them yet) and to the
    existing chunks `chunk_ids`."""
    ids = _chunk_ids(session, [c.digest for c in chunks])
    new = [c for c in chunks if c.digest not in ids]
    if new:
        insert_new(session, FragmentChunk.__table__, [
            {"digest": c.digest, "count": len(c.hashes), "records": c.records} for c in new],
            unchanged="digest")
        created = _chunk_ids(session, [c.digest for c in new])
        ids.update(created)
        blob_ids = {**blob_ids, **_blob_ids(session, owner, [h for c in new for h in c.hashes if h not in blob_ids])}
        # Idempotent: a concurrent push that created the same chunk links the same rows.
        insert_columns(session, ChunkBlob.__table__, {
            "chunk_id": [created[c.digest] for c in new for _ in c.hashes],
            "blob_id": [blob_id for c in new for blob_id in map(blob_ids.__getitem__, c.hashes)]},
            unchanged="chunk_id")
    insert_new(session, InstanceChunk.__table__,
               [{"instance_id": instance_id, "chunk_id": i} for i in sorted(set(ids.values()) | set(chunk_ids))],
               unchanged="chunk_id")


def _bounds(session: Session, instance_id: int) -> list[tuple[bytes, int]]:
    """(first hash, id) of each chunk of the instance, in hash order: a few bytes per chunk."""
    first = func.substr(FragmentChunk.records, 1, 32)
    rows = session.execute(select(first, FragmentChunk.id).join(InstanceChunk, InstanceChunk.chunk_id == FragmentChunk.id)
                           .where(InstanceChunk.instance_id == instance_id))
    return sorted((bytes(raw), chunk_id) for raw, chunk_id in rows)


def _records(session: Session, chunk_ids: list[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for part in chunked(sorted(set(chunk_ids))):
        rows = session.execute(select(FragmentChunk.id, FragmentChunk.records).where(FragmentChunk.id.in_(part)))
        found.update((chunk_id, records) for chunk_id, records in rows)
    return found


def _split(records: bytes) -> list[bytes]:
    return [records[start:start + RECORD.size] for start in range(0, len(records), RECORD.size)]


def read(session: Session, instance_id: int) -> dict[str, Stored]:
    rows = session.scalars(select(FragmentChunk.records)
                           .join(InstanceChunk, InstanceChunk.chunk_id == FragmentChunk.id)
                           .where(InstanceChunk.instance_id == instance_id))
    found: dict[str, Stored] = {}
    for records in rows:
        found.update(unpack(records))
    return found


def count(session: Session, instance_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(FragmentChunk.count), 0))
                              .join(InstanceChunk, InstanceChunk.chunk_id == FragmentChunk.id)
                              .where(InstanceChunk.instance_id == instance_id)))


def _chunk_ids(session: Session, digests: list[str]) -> dict[str, int]:
    return dict(select_in(session, select(FragmentChunk.digest, FragmentChunk.id), FragmentChunk.digest, digests))


def _blob_ids(session: Session, owner: str, hashes: list[str]) -> dict[str, int]:
    return dict(select_in(session, select(Blob.hash, Blob.id).where(Blob.owner == owner), Blob.hash, hashes))
