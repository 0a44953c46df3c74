"""Declarative base, portable column types and the engine/session factory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, MetaData, String, Text, create_engine, event
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.pool import NullPool

from . import db_connections, statement_limits

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ExactString(String):
    """A string the database compares byte for byte; see Name()."""


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_on_mysql(type_, compiler, **_kw):
    # Decided when the DDL is compiled, on a connected dialect: `mysql+pymysql://` to a MariaDB
    # server is dialect "mysql" with is_mariadb set, which a with_variant() cannot tell apart.
    collation = "utf8mb4_nopad_bin" if compiler.dialect.is_mariadb else "utf8mb4_0900_bin"
    return f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {collation}"


def Name(length: int = 64):
    """A name compared exactly. MySQL's default collations fold case (`alice/Foo` would be
    `alice/foo`, protocol.md 4), and `utf8mb4_bin` is PAD SPACE (`latest ` would be `latest`), so
    MariaDB (10.2+) uses `utf8mb4_nopad_bin` and MySQL (8.0+) `utf8mb4_0900_bin`: binary, NO PAD.
    SQLite's default BINARY collation is exact already."""
    return ExactString(length)


def Hash():
    """A SHA-256 hex digest; ASCII keeps MySQL indexes small."""
    return String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb")


def Timestamp():
    """UTC, naive, with microseconds on MySQL too (DATETIME defaults to whole seconds)."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def Blob():
    """Compressed instance contents can exceed MySQL's 64 KiB BLOB."""
    return LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def ShortBytes(length: int):
    """Bytes compared byte by byte, short enough for an index (VARBINARY; a BLOB on SQLite)."""
    return LargeBinary().with_variant(mysql.VARBINARY(length), "mysql", "mariadb")


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


@dataclasses.dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a database connection may keep a request waiting, in seconds (None: no bound;
    SQLite uses only `lock`, as its busy timeout). A server that hangs then costs a request a few seconds, not minutes."""

    connect: int | None = None
    read: int | None = None
    write: int | None = None
    lock: int | None = None  # innodb_lock_wait_timeout: below `read`, so a lock wait ends cleanly
    pool: int | None = None  # waiting for a free connection of the pool
    statement: float | None = None  # the database stops a statement after this (registry.statement_limits)

    @classmethod
    def from_settings(cls, settings) -> "DatabaseTimeouts":
        return cls(connect=settings.database_connect_timeout, read=settings.database_read_timeout,
                   write=settings.database_write_timeout, lock=settings.database_lock_timeout,
                   pool=settings.database_pool_timeout, statement=settings.database_statement_timeout or None)

    def connect_args(self) -> dict:
        """For PyMySQL and mysqlclient, which take the same keywords."""
        args = {key: value for key, value in (("connect_timeout", self.connect), ("read_timeout", self.read),
                                              ("write_timeout", self.write)) if value}
        if self.lock:
            args["init_command"] = f"SET SESSION innodb_lock_wait_timeout = {int(self.lock)}"
        return args


MYSQL_TIMEOUT_DRIVERS = {"pymysql", "mysqldb"}


def make_engine(url: str, timeouts: DatabaseTimeouts | None = None, *, pooled: bool = True) -> Engine:
    """The web app passes `timeouts`; the command line (migrations, gc: long statements on
    purpose) does not. `pooled=False` opens a fresh connection for each use."""
    pool_args = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        # The busy timeout makes concurrent writers (several gunicorn workers) wait for the
        # write lock instead of failing at once; the web app bounds it like MySQL's lock wait.
        busy_seconds = timeouts.lock if timeouts is not None and timeouts.lock else 30
        engine = create_engine(url, connect_args={"timeout": busy_seconds}, **pool_args)
        event.listen(engine, "connect", functools.partial(_configure_sqlite, busy_ms=busy_seconds * 1000))
        return _bounded(engine, timeouts)
    if url.startswith("mysql") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    connect_args = {}
    if timeouts is not None and make_url(url).get_driver_name() in MYSQL_TIMEOUT_DRIVERS:
        connect_args = timeouts.connect_args()
    if pooled and timeouts is not None and timeouts.pool:
        pool_args["pool_timeout"] = timeouts.pool
    # READ COMMITTED: a check made after taking a row lock (the package's, for every write) sees
    # what other writers committed, not a snapshot from the request's first query.
    lazy = make_url(url).get_driver_name() == "pymysql"
    engine = create_engine(url, pool_pre_ping=not lazy, pool_recycle=3600, isolation_level="READ COMMITTED",
                           connect_args=connect_args, **pool_args)
    if lazy:  # one round trip for a read instead of three (see registry.db_connections)
        db_connections.begin_at_first_write(engine)
        db_connections.check_on_checkout(engine)
    return _bounded(engine, timeouts)


def _bounded(engine: Engine, timeouts: DatabaseTimeouts | None) -> Engine:
    known_driver = engine.dialect.name == "sqlite" or engine.dialect.driver in MYSQL_TIMEOUT_DRIVERS
    if timeouts is not None and timeouts.statement and known_driver:
        statement_limits.bound_statements(engine, timeouts.statement)
    return engine


def _configure_sqlite(dbapi_connection, _record, *, busy_ms: int):
    # WAL lets readers proceed during a push.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
