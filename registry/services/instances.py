"""Instances of a package: one by its tophash, and the tophashes of many by id (for lists)."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import tree
from ..models import Instance


def find_instance(session: Session, package_id: int, top_hash: str) -> Instance | None:
    """The instance, or None. Anything but a SHA-256 hex digest is None without a query:
    MariaDB's CHAR comparison ignores trailing spaces, so `HASH%20` in a URL would match."""
    if not tree.is_hash(top_hash):
        return None
    return session.scalar(select(Instance).where(Instance.package_id == package_id, Instance.hash == top_hash))


def named_hashes(session: Session, batches: Iterator[list], key: str, column: str) -> Iterator[dict]:
    """Each row of `batches` (rows with an `instance_id`) as `{key: row.<column>, "hash": the
    instance's hash}`; the hashes of each batch in one read (a tag's or a version's list)."""
    for rows in batches:
        hashes = hashes_of(session, {row.instance_id for row in rows})
        yield from ({key: getattr(row, column), "hash": hashes[row.instance_id]} for row in rows)


def hashes_of(session: Session, ids, known: dict[int, str] | None = None) -> dict[int, str]:
    """The tophashes of the instances `ids`, by id: `known` with those it lacks looked up."""
    known = {} if known is None else known
    missing = set(ids) - known.keys()
    if missing:
        known.update(session.execute(select(Instance.id, Instance.hash).where(Instance.id.in_(missing))).all())
    return known
