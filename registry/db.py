"""Declarative base, portable column types and the engine/session factory."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, MetaData, String, Text, create_engine, event
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def Name(length: int = 64):
    """A case-sensitive string: MySQL's default collations would fold case and silently make
    `alice/Foo` the same package as `alice/foo` (protocol.md 4)."""
    return String(length).with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def Hash():
    """A SHA-256 hex digest; ASCII keeps MySQL indexes small."""
    return String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb")


def Timestamp():
    """UTC, naive, with microseconds on MySQL too (DATETIME defaults to whole seconds)."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def Blob():
    """Compressed instance contents can exceed MySQL's 64 KiB BLOB."""
    return LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def LongText():
    """Up to 16 MiB on MySQL, where TEXT stops at 64 KiB."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are BIGINT elsewhere only.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
Id = Integer


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def epoch(value: dt.datetime | None) -> float | None:
    """Timestamps are stored naive UTC; the quilt client wants float epoch seconds."""
    return None if value is None else value.replace(tzinfo=dt.timezone.utc).timestamp()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    if url.startswith("mysql") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def _configure_sqlite(dbapi_connection, _record):
    # WAL lets readers proceed during a push; the busy timeout makes concurrent writers
    # (several gunicorn workers) wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
