"""Blob rows: one per fragment of an owner, written and read in bulk."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Blob, MultipartUpload
from . import fragment_sets
from .bulk import CHUNK, chunked, insert_new
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
    # In hash order: concurrent pushes then take the unique-key locks in the same order (no deadlock).
    insert_new(session, Blob.__table__, [
        {"owner": owner, "hash": h, "size": fresh[h].size, "batch": fresh[h].batch, "created_at": now,
         "touched_at": now} for h in sorted(fresh)], unchanged="size")
    rows, ids = {}, {}
    for chunk in chunked(sorted(fresh)):
        for id_, hash_, size, batch in session.execute(select(Blob.id, Blob.hash, Blob.size, Blob.batch).where(
                Blob.owner == owner, Blob.hash.in_(chunk))):
            rows[hash_], ids[hash_] = Stored(size, batch), id_
    return rows, ids


def completed_uploads(session: Session, owner: str, pusher: str, hashes: Iterable[str]) -> dict[str, int]:
    """Sizes of the fragments among `hashes` that `pusher` uploaded in parts for `owner`
    (services.uploads), complete: at their key without a HEAD each."""
    found: dict[str, int] = {}
    for chunk in chunked(sorted(hashes)):
        found.update(session.execute(select(MultipartUpload.hash, MultipartUpload.size).where(
            MultipartUpload.owner == owner, MultipartUpload.pusher == pusher, MultipartUpload.hash.in_(chunk),
            MultipartUpload.completed_at.is_not(None))).all())
    return found


def instance_sizes(session: Session, instance_id: int, hashes: Iterable[str] | None = None) -> dict[str, int]:
    """Sizes of the instance's fragments: all of them, or only `hashes` (a subpath's)."""
    return {h: stored.size for h, stored in instance_fragments(session, instance_id, hashes).items()}


def instance_fragments(session: Session, instance_id: int, hashes: Iterable[str] | None = None) -> dict[str, Stored]:
    found = fragment_sets.read(session, instance_id)
    if hashes is None:
        return found
    return {h: found[h] for h in hashes if h in found}
