"""The web app's database connections carry the REGISTRY_DATABASE_* bounds (the fault test shows
what they are for); command-line engines, which run long migrations on purpose, do not."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registry import Settings, create_app
from registry.db import make_engine


def _variables(engine, *names: str) -> tuple:
    with engine.connect() as connection:
        return tuple(connection.execute(text("SELECT " + ", ".join(f"@@session.{n}" for n in names))).one())


@pytest.fixture
def mariadb_settings(settings):
    if not settings.effective_database_url.startswith("mysql"):
        pytest.skip("socket read timeouts are a MariaDB/MySQL setting; SQLite has no server to wait for")
    return settings


def test_app_sessions_give_up_on_a_lock_before_the_read_timeout(settings):
    """MySQL's lock wait and SQLite's busy timeout both follow REGISTRY_DATABASE_LOCK_TIMEOUT."""
    app = create_app(Settings(**{**settings.__dict__, "database_lock_timeout": 2, "database_read_timeout": 5}))
    engine = app.extensions["registry"].engine
    sqlite = engine.dialect.name == "sqlite"
    lock_wait = (lambda e: _pragma(e, "busy_timeout")) if sqlite else (lambda e: _variables(e, "innodb_lock_wait_timeout"))
    try:
        assert lock_wait(engine) == ((2000,) if sqlite else (2,))
        if not sqlite:
            assert engine.pool.timeout() == settings.database_pool_timeout
    finally:
        engine.dispose()
    cli = make_engine(settings.effective_database_url)
    try:
        assert lock_wait(cli) not in ((2,), (2000,))  # the command line keeps the server's default
    finally:
        cli.dispose()


def _pragma(engine, name: str) -> tuple:
    with engine.connect() as connection:
        return tuple(connection.exec_driver_sql(f"PRAGMA {name}").one())


def test_a_statement_longer_than_the_read_timeout_is_a_lost_connection(mariadb_settings):
    app = create_app(Settings(**{**mariadb_settings.__dict__, "database_read_timeout": 1,
                                 "database_lock_timeout": 0}))
    engine = app.extensions["registry"].engine
    try:
        with engine.connect() as connection:
            started = time.monotonic()
            with pytest.raises(OperationalError) as raised:
                connection.execute(text("SELECT SLEEP(3)"))
            assert time.monotonic() - started < 2.5
        assert raised.value.orig.args[0] == 2013  # "Lost connection to MySQL server during query (timed out)"
    finally:
        engine.dispose()
