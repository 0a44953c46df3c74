"""Looking up an instance of a package by its tophash."""

from __future__ import annotations

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


def hashes_of(session: Session, ids, known: dict[int, str] | None = None) -> dict[int, str]:
    """The tophashes of the instances `ids`, by id: `known` with those it lacks looked up."""
    known = {} if known is None else known
    missing = set(ids) - known.keys()
    if missing:
        known.update(session.execute(select(Instance.id, Instance.hash).where(Instance.id.in_(missing))).all())
    return known
