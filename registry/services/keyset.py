"""Long lists read a batch at a time, in the order they are listed (a log by (created_at, id),
tags by name, an owner's packages by name).

Each batch starts right after the last row of the one before (a keyset), so every read is one
step into an index that holds that order (owner column, then the key) and a list of any length
costs its rows, held a batch at a time. The first batch is read at once, within the request's
unit of work; the rest as the caller takes them (the API sends each batch before the next is read)."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

BATCH_ROWS = 1_000


def batches(session: Session, query: Select, *key, index: str | None = None) -> Iterator[list]:
    """The rows of `query` (which selects the columns of `key`, unique together) ordered by
    `key`, in lists of BATCH_ROWS. `index`: the index of key's table that holds this order, forced
    on MariaDB and MySQL, whose optimizer may otherwise choose another index of the same leading
    column (or one that holds every column asked for), or the whole table, and sort the whole
    list again for every batch."""
    if index is not None:
        for dialect in ("mysql", "mariadb"):
            query = query.with_hint(key[0].class_, f"FORCE INDEX ({index})", dialect)
    ordered = query.order_by(*key).limit(BATCH_ROWS)
    return _rest(session, ordered, session.execute(ordered).all(), key, BATCH_ROWS)


def _rest(session: Session, ordered: Select, rows: list, key: tuple, size: int) -> Iterator[list]:
    while rows:
        yield rows
        if len(rows) < size:
            return
        last = [getattr(rows[-1], column.key) for column in key]
        rows = session.execute(ordered.where(_after(key, last))).all()


def _after(key: tuple, last: list):
    """`key > last`, compared column by column, written as MariaDB and SQLite both walk an index
    with: (a > x) OR (a = x AND b > y) ..."""
    return or_(*(and_(*(column == value for column, value in zip(key[:i], last[:i])), key[i] > last[i])
                 for i in range(len(key))))
