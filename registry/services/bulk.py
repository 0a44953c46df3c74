"""Multi-row SQL in bounded statements: a push of 100,000 fragments is a handful of them."""

from __future__ import annotations

import datetime as dt
import operator
import re
from typing import Iterator, NamedTuple

from sqlalchemy import Select, Table, literal_column
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..tree import is_lower_hex

CHUNK = 2000  # values per IN list or rows per INSERT
MAX_STATEMENT_CHARS = 4 * 1024 * 1024  # MySQL's max_allowed_packet is 16 MiB by default (MariaDB)


def sorted_unique(values) -> list:
    """`sorted(set(values))`; a list that is so already (a push's hashes, sorted once) is
    returned as it is, after a check in C that costs a quarter of sorting it again."""
    if isinstance(values, list) and all(map(operator.lt, values, values[1:])):
        return values
    return sorted(set(values))


def chunked(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_UNCACHED = {"compiled_cache": None}  # each statement of literals is new: do not keep its SQL


def select_in(session: Session, query: Select, column, values) -> Iterator:
    """The rows of `query` where `column` is among `values`, CHUNK values per statement, in
    order. Hex digests (a push looks up 100,000) are written into the SQL as they are, without
    the per-value work of binding them; anything else is bound."""
    for part in chunked(sorted_unique(values)):
        if is_lower_hex("".join(part)):  # so it can be written into SQL as it is
            listed = literal_column("('" + "','".join(part) + "')")
            yield from session.execute(query.where(column.op("IN")(listed)), execution_options=_UNCACHED)
        else:
            yield from session.execute(query.where(column.in_(part)))


class Statement(NamedTuple):
    sql: str  # ready for the driver (its %-formatting escaped)
    rows: int


class Same(NamedTuple):
    """A column's value in every row (see `insert_columns`)."""

    value: object


Columns = dict[str, "list | Same"]  # column name -> its values in row order, or the one value of all rows


def insert_new(session: Session, table: Table, rows: list[dict], *, unchanged: str) -> list[tuple[int, int]]:
    """Insert rows, keeping the existing one where a unique key clashes (two pushes may add the
    same row at once). On MySQL, returns each statement's first auto-increment id and its number
    of rows, in order (see blobs.add_blobs); elsewhere nothing."""
    if not rows:
        return []
    if _is_sqlite(session):
        return _sqlite_insert(session, table, rows)
    return _mysql_insert(session, table, columns_of(rows), unchanged)


def insert_columns(session: Session, table: Table, columns: Columns, *, unchanged: str) -> list[tuple[int, int]]:
    """`insert_new` of rows given by column: on MySQL, 100,000 rows need no dict each."""
    if _row_count(columns) == 0:
        return []
    if _is_sqlite(session):
        return _sqlite_insert(session, table, _rows_of(columns))
    return _mysql_insert(session, table, columns, unchanged)


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _sqlite_insert(session: Session, table: Table, rows: list[dict]) -> list[tuple[int, int]]:
    statement = sqlite_insert(table).on_conflict_do_nothing()
    for chunk in chunked(rows):
        session.execute(statement, chunk)
    return []


def _mysql_insert(session: Session, table: Table, columns: Columns, unchanged: str) -> list[tuple[int, int]]:
    escape = session.connection().connection.dbapi_connection.escape
    return run_inserts(session, mysql_inserts(table, columns, unchanged=unchanged, escape=escape))


def run_inserts(session: Session, statements: list[Statement]) -> list[tuple[int, int]]:
    """Execute `mysql_inserts`' statements: each one's first auto-increment id and its rows."""
    connection = session.connection()
    return [(connection.exec_driver_sql(statement.sql).lastrowid, statement.rows) for statement in statements]


def columns_of(rows: list[dict]) -> Columns:
    """Rows by column; a column holding one value in every row (owner, timestamps of a push) as
    Same, except the first (it keeps the number of rows)."""
    if not rows:
        return {}
    by_column = {c: [row[c] for row in rows] for c in rows[0]}
    first = next(iter(by_column))
    return {c: Same(values[0]) if c != first and all(value is values[0] for value in values) else values
            for c, values in by_column.items()}


def _row_count(columns: Columns) -> int:
    lengths = {len(values) for values in columns.values() if not isinstance(values, Same)}
    if len(lengths) != 1 and columns:
        raise ValueError("columns must hold at least one list, all of one length")
    return lengths.pop() if lengths else 0


def _rows_of(columns: Columns) -> list[dict]:
    count = _row_count(columns)
    names = list(columns)
    values = [[v.value] * count if isinstance(v, Same) else v for v in columns.values()]
    return [dict(zip(names, row)) for row in zip(*values)]


def mysql_inserts(table: Table, columns: Columns, *, unchanged: str, escape=None) -> list[Statement]:
    """`insert_columns`' statements on MySQL, written without a connection (so also ahead of
    time, in another thread). `escape` is the driver's, for values other than ints, plain text,
    bytes and timestamps; without it, such a value raises NeedsEscape."""
    # One multi-row INSERT per few thousand rows, its VALUES written here. The driver would
    # escape each of the 600,000 values of a 100,000-fragment push in Python (a second); these
    # are ints, hex digests, names and timestamps, so `_literal` writes them directly.
    # A no-op update rather than INSERT IGNORE, which would also hide other errors.
    count = _row_count(columns)
    if count == 0:
        return []
    escape = escape or _cannot_escape
    names = ", ".join(f"`{table.c[c].name}`" for c in columns)
    head = f"INSERT INTO `{table.name}` ({names}) VALUES "
    tail = f" ON DUPLICATE KEY UPDATE `{unchanged}` = `{unchanged}`"
    # A value of every row is written once, into the template of a row.
    template = "(" + ",".join("{}" if not isinstance(values, Same) else
                              _literal(values.value, escape).replace("{", "{{").replace("}", "}}")
                              for values in columns.values()) + ")"
    literals = [_column_literals(values, escape) for values in columns.values() if not isinstance(values, Same)]
    statements: list[Statement] = []
    values: list[str] = []
    size = 0
    for value in map(template.format, *literals) if literals else [template] * count:
        values.append(value)
        size += len(value)
        if len(values) == CHUNK or size > MAX_STATEMENT_CHARS:  # well within max_allowed_packet
            statements.append(_statement(head, values, tail))
            values, size = [], 0
    if values:
        statements.append(_statement(head, values, tail))
    return statements


def _statement(head: str, values: list[str], tail: str) -> Statement:
    # The driver applies %-formatting to the statement even without parameters.
    return Statement((head + ",".join(values) + tail).replace("%", "%%"), len(values))


class NeedsEscape(ValueError):
    """A value only the driver's escaping can write (see mysql_inserts)."""


def _cannot_escape(value):
    raise NeedsEscape(f"a {type(value).__name__} needs the driver's escaping")


def _column_literals(values: list, escape) -> list[str]:
    """The literals of one column, the usual kinds (ints, plain text such as hex digests) checked
    once for the whole column rather than value by value."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return list(map(str, values))
    if kinds == {str} and _PLAIN_TEXT.match("".join(values)):
        return [f"'{value}'" for value in values]
    return [_literal(value, escape) for value in values]


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_./:+= -]*\Z")  # nothing that could end a quoted literal


def _literal(value, escape) -> str:
    """A MySQL literal for `value`: written directly for the types a push writes, else escaped
    by the driver (which also quotes every other string)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if value is None:
        return "NULL"
    if kind is str and _PLAIN_TEXT.match(value):
        return f"'{value}'"
    if kind is bytes:
        return f"X'{value.hex()}'" if value else "''"
    if kind is dt.datetime and value.tzinfo is None:
        return f"'{value.isoformat(' ')}'"
    return escape(value)
