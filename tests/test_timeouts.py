"""The web app's database connections carry the REGISTRY_DATABASE_* bounds (the fault test shows
what they are for); command-line engines, which run long migrations on purpose, do not."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registry import Settings, create_app
from registry.db import make_engine
from tests.helpers import LATE_WORDS, rename_every_keyword_set, slow_search_names


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
    # No statement bound here, so the client's own read timeout is what ends the wait.
    app = create_app(Settings(**{**mariadb_settings.__dict__, "database_read_timeout": 1,
                                 "database_lock_timeout": 0, "database_statement_timeout": 0}))
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


def test_app_sessions_tell_the_server_the_statement_bound(mariadb_settings):
    app = create_app(Settings(**{**mariadb_settings.__dict__, "database_statement_timeout": 2.5}))
    engine = app.extensions["registry"].engine
    cli = make_engine(mariadb_settings.effective_database_url)
    try:
        assert float(_variables(engine, "max_statement_time")[0]) == 2.5
        assert float(_variables(cli, "max_statement_time")[0]) == 0  # migrations and gc run long on purpose
        with engine.connect() as connection:
            started = time.monotonic()
            with pytest.raises(OperationalError) as raised:
                connection.execute(text("SELECT SLEEP(4)"))
            assert time.monotonic() - started < 3.5
            assert raised.value.orig.args[0] == 1969  # the server stopped it: "max_statement_time exceeded"
            assert connection.execute(text("SELECT 1")).scalar() == 1  # and the connection is still usable
    finally:
        engine.dispose()
        cli.dispose()


SLOW_PACKAGES = 8


@pytest.fixture
def slow_to_search(registry):
    """Public packages whose `latest` node names (the keyword sets search scans) are as long as a
    push may make them (1 MB) and end with LATE_WORDS: a search naming those words scans all of
    them once for each word."""
    registry.create_user("alice")
    token = registry.token("alice")
    for name in (f"wide{i}" for i in range(SLOW_PACKAGES)):
        response, _ = registry.push(token, "alice", name, {"README": name.encode(), name: b"x"}, is_public=True)
        assert response.status_code == 200
    with registry.state.session_factory() as session:
        assert rename_every_keyword_set(session, slow_search_names()) == SLOW_PACKAGES
        session.commit()
    return registry


def test_a_search_that_runs_past_the_statement_bound_is_stopped_by_the_database(settings, slow_to_search):
    """Ten words, nine of them at the end of every package's node names, which begin like each
    word over and over: 80 MB of text compared at every eighth byte, which anyone may ask for.
    The database stops it at the bound."""
    app = create_app(Settings(**{**settings.__dict__, "database_statement_timeout": 0.1}))
    client = app.test_client()
    try:
        started = time.monotonic()
        response = client.get("/api/search/", query_string={"q": " ".join(LATE_WORDS + ["found-nowhere"])})
        assert (response.status_code, response.get_json().get("code")) == (503, "database_timeout"), (time.monotonic() - started, response.get_data()[:300])
        assert "took too long" in response.get_json()["message"] and response.headers["Retry-After"]
        assert time.monotonic() - started < 3
        engine = app.extensions["registry"].engine
        if engine.dialect.name != "sqlite":
            with engine.connect() as connection:  # nothing of the search is still running on the server
                running = connection.execute(text(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE INFO LIKE '%keyword_set%' AND ID <> CONNECTION_ID()")).scalar()
            assert running == 0
        # The same app still answers: a search that scans no node names.
        listed = client.get("/api/search/", query_string={"q": ""})
        assert listed.status_code == 200 and len(listed.get_json()["packages"]) == SLOW_PACKAGES
        page = client.get("/search", query_string={"q": " ".join(LATE_WORDS)})
        assert page.status_code == 503 and "took too long" in page.get_data(as_text=True)
    finally:
        app.extensions["registry"].engine.dispose()
    # Under the default bound, a search of one of those words finishes.
    found = slow_to_search.api("GET", "/api/search/", query_string={"q": LATE_WORDS[0]})
    assert found.status_code == 200 and len(found.get_json()["packages"]) == SLOW_PACKAGES

