"""Long lists read a batch at a time, in the order they are listed: (created_at, id).

Each batch starts right after the last row of the one before (a keyset), so every read is one
step into an index (owner column, created_at, id) and a list of any length costs its rows, held
a batch at a time. The first batch is read at once, within the request's unit of work; the rest
as the caller takes them (the API sends each batch before the next is read)."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

BATCH_ROWS = 1_000


def batches(session: Session, query: Select, created, id_) -> Iterator[list]:
    """The rows of `query` (which selects the columns `created` and `id_`) ordered by them, in
    lists of BATCH_ROWS."""
    ordered = query.order_by(created, id_).limit(BATCH_ROWS)
    return _rest(session, ordered, session.execute(ordered).all(), created, id_, BATCH_ROWS)


def _rest(session: Session, ordered: Select, rows: list, created, id_, size: int) -> Iterator[list]:
    while rows:
        yield rows
        if len(rows) < size:
            return
        last_created, last_id = getattr(rows[-1], created.key), getattr(rows[-1], id_.key)
        rows = session.execute(ordered.where(or_(created > last_created,
                                                 and_(created == last_created, id_ > last_id)))).all()
