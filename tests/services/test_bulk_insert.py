"""bulk.insert_new writes MySQL literals itself for the plain values of a push; anything else
goes through the driver's escaping. Hostile strings must arrive unchanged, on both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, select
from sqlalchemy.orm import Session

from registry.db import Timestamp, make_engine
from registry.services.bulk import insert_new

HOSTILE = ["plain", "it's", "50%", "100%%", "back\\slash", 'quote"', "ünï", "a'); DROP TABLE x; --", "%s %(x)s",
           "", "line\nbreak", "\x00nul", "emoji 😀"]


def test_every_value_arrives_unchanged_and_clashes_keep_the_first_row(clean_database):
    engine = make_engine(clean_database)
    metadata = MetaData()
    table = Table("bulk_probe", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("text", String(200)), Column("data", LargeBinary), Column("at", DateTime))
    metadata.create_all(engine)
    at = dt.datetime(2026, 1, 2, 3, 4, 5)
    try:
        with Session(engine) as session:
            rows = [{"id": i, "text": v, "data": bytes([i, 0, 39, 92, 37]), "at": at} for i, v in enumerate(HOSTILE, 1)]
            insert_new(session, table, rows, unchanged="id")
            insert_new(session, table, [{"id": 1, "text": "replaced?", "data": b"", "at": None}], unchanged="id")
            session.commit()
            stored = session.execute(select(table).order_by(table.c.id)).all()
        assert [tuple(row) for row in stored] == [(r["id"], r["text"], r["data"], at) for r in rows]
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_a_value_every_row_shares_is_written_as_it_is(clean_database):
    """A column with one value in every row is written once for all rows: braces and quotes in it
    (or in the other columns) must not disturb the rest."""
    engine = make_engine(clean_database)
    metadata = MetaData()
    table = Table("bulk_same", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("shared", String(200)), Column("text", String(200)), Column("at", Timestamp()))
    metadata.create_all(engine)
    at, shared = dt.datetime(2026, 1, 2, 3, 4, 5, 678), "{0} {} }{ it's {{x}} 50%"
    try:
        with Session(engine) as session:
            rows = [{"id": i, "shared": shared, "text": "{%d}" % i + v, "at": at} for i, v in enumerate(HOSTILE, 1)]
            insert_new(session, table, rows, unchanged="id")
            session.commit()
            stored = session.execute(select(table).order_by(table.c.id)).all()
        assert [tuple(row) for row in stored] == [(r["id"], shared, r["text"], at) for r in rows]
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_rows_that_are_all_alike_are_each_inserted(clean_database):
    """A value shared by every row is written once into the row's template; rows alike in every
    column are still as many rows."""
    engine = make_engine(clean_database)
    metadata = MetaData()
    table = Table("bulk_alike", metadata, Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("text", String(20)))
    metadata.create_all(engine)
    try:
        with Session(engine) as session:
            insert_new(session, table, [{"text": "same"}] * 3, unchanged="id")
            session.commit()
            assert session.execute(select(table.c.text)).scalars().all() == ["same"] * 3
    finally:
        metadata.drop_all(engine)
        engine.dispose()
