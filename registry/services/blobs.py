"""Blob rows in bulk: a push of 100,000 fragments is a handful of multi-row statements."""

from __future__ import annotations

from typing import Iterable, Iterator

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Blob, InstanceBlob

CHUNK = 2000


def chunked(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def touch(session: Session, owner: str, hashes: Iterable[str]) -> None:
    """Mark the owner's existing fragments as wanted by a push in progress (see services.upkeep)."""
    now = utcnow()
    for chunk in chunked(sorted(hashes)):
        session.execute(update(Blob).where(Blob.owner == owner, Blob.hash.in_(chunk)).values(touched_at=now))


def known_sizes(session: Session, owner: str, hashes: Iterable[str]) -> dict[str, int]:
    """Sizes of the owner's fragments that already have a row."""
    found = {}
    for chunk in chunked(sorted(hashes)):
        found.update(session.execute(
            select(Blob.hash, Blob.size).where(Blob.owner == owner, Blob.hash.in_(chunk))).all())
    return found


def _insert_missing(session: Session, rows: list[dict]) -> None:
    # Two pushes may add the same fragment at once; the unique (owner, hash) key keeps one row.
    # Core inserts on the table: the ORM's bulk path adds per-row work for nothing here.
    table = Blob.__table__
    if session.get_bind().dialect.name == "sqlite":
        statement = sqlite_insert(table).on_conflict_do_nothing()
    else:
        statement = mysql_insert(table)
        statement = statement.on_duplicate_key_update(size=table.c.size)
    for chunk in chunked(rows):
        session.execute(statement, chunk)


def link_blobs(session: Session, instance_id: int, owner: str, sizes: dict[str, int], known: dict[str, int]) -> None:
    """Create blob rows for the fragments in `sizes` that are not `known` yet, and link all of
    them to the instance."""
    now = utcnow()
    # In hash order: concurrent pushes then take the unique-key locks in the same order (no deadlock).
    _insert_missing(session, [{"owner": owner, "hash": h, "size": sizes[h], "created_at": now, "touched_at": now}
                              for h in sorted(sizes) if h not in known])
    for chunk in chunked(sorted(sizes)):
        ids = session.scalars(select(Blob.id).where(Blob.owner == owner, Blob.hash.in_(chunk))).all()
        if ids:
            session.execute(insert(InstanceBlob.__table__), [{"instance_id": instance_id, "blob_id": i} for i in ids])


def instance_sizes(session: Session, instance_id: int, hashes: Iterable[str] | None = None) -> dict[str, int]:
    """Sizes of the instance's fragments: all of them, or only `hashes` (a subpath's)."""
    query = (select(Blob.hash, Blob.size).join(InstanceBlob, InstanceBlob.blob_id == Blob.id)
             .where(InstanceBlob.instance_id == instance_id))
    if hashes is None:
        return dict(session.execute(query).all())
    found = {}
    for chunk in chunked(sorted(hashes)):
        found.update(session.execute(query.where(Blob.hash.in_(chunk))).all())
    return found
