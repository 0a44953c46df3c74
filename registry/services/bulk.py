"""Multi-row SQL in bounded statements: a push of 100,000 fragments is a handful of them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator

from sqlalchemy import Select, Table, literal_column
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

CHUNK = 2000  # values per IN list or rows per INSERT
MAX_STATEMENT_CHARS = 4 * 1024 * 1024  # MySQL's max_allowed_packet is 16 MiB by default (MariaDB)


def chunked(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_HEX = re.compile(r"[0-9a-f]*")
_UNCACHED = {"compiled_cache": None}  # each statement of literals is new: do not keep its SQL


def _are_hex(values: list[str]) -> bool:
    """Whether every value is lower-case hex, so can be written into SQL as it is."""
    return _HEX.fullmatch("".join(values)) is not None


def select_in(session: Session, query: Select, column, values) -> Iterator:
    """The rows of `query` where `column` is among `values`, CHUNK values per statement. Hex
    digests (a push looks up 100,000) are written into the SQL as they are, without the per-value
    work of binding them; anything else is bound."""
    for part in chunked(sorted(set(values))):
        if _are_hex(part):
            listed = literal_column("('" + "','".join(part) + "')")
            yield from session.execute(query.where(column.op("IN")(listed)), execution_options=_UNCACHED)
        else:
            yield from session.execute(query.where(column.in_(part)))


def insert_new(session: Session, table: Table, rows: list[dict], *, unchanged: str) -> list[tuple[int, int]]:
    """Insert rows, keeping the existing one where a unique key clashes (two pushes may add the
    same row at once). On MySQL, returns each statement's first auto-increment id and its number
    of rows, in order (see blobs.add_blobs); elsewhere nothing."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        statement = sqlite_insert(table).on_conflict_do_nothing()
        for chunk in chunked(rows):
            session.execute(statement, chunk)
        return []
    # MySQL: one multi-row INSERT per few thousand rows, its VALUES written here. The driver
    # would escape each of the 600,000 values of a 100,000-fragment push in Python (a second);
    # these are ints, hex digests, names and timestamps, so `_literal` writes them directly and
    # hands anything else (a string with other characters) to the driver's escaping.
    # A no-op update rather than INSERT IGNORE, which would also hide other errors.
    columns = list(rows[0])
    names = ", ".join(f"`{table.c[c].name}`" for c in columns)
    connection = session.connection()
    escape = connection.connection.dbapi_connection.escape
    head = f"INSERT INTO `{table.name}` ({names}) VALUES "
    tail = f" ON DUPLICATE KEY UPDATE `{unchanged}` = `{unchanged}`"
    # A column holding one value in every row (owner, timestamps of a push) is written once.
    by_column = {c: [row[c] for row in rows] for c in columns}
    same = {c: _literal(values[0], escape) for c, values in by_column.items()
            if all(value is values[0] for value in values)}
    varying = [c for c in columns if c not in same]
    template = "(" + ",".join("{}" if c in varying else same[c].replace("{", "{{").replace("}", "}}")
                              for c in columns) + ")"
    literals = [_column_literals(by_column[c], escape) for c in varying]
    del by_column
    statements: list[tuple[int, int]] = []
    values: list[str] = []
    size = 0
    for value in map(template.format, *literals) if literals else [template] * len(rows):
        values.append(value)
        size += len(value)
        if len(values) == CHUNK or size > MAX_STATEMENT_CHARS:  # well within max_allowed_packet
            statements.append((_execute(connection, head + ",".join(values) + tail).lastrowid, len(values)))
            values, size = [], 0
    if values:
        statements.append((_execute(connection, head + ",".join(values) + tail).lastrowid, len(values)))
    return statements


def _column_literals(values: list, escape) -> list[str]:
    """The literals of one column, the usual kinds (ints, plain text such as hex digests) checked
    once for the whole column rather than value by value."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return list(map(str, values))
    if kinds == {str} and _PLAIN_TEXT.match("".join(values)):
        return [f"'{value}'" for value in values]
    return [_literal(value, escape) for value in values]


def _execute(connection, sql: str):
    # The driver applies %-formatting to the statement even without parameters.
    return connection.exec_driver_sql(sql.replace("%", "%%"))


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
