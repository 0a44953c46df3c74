"""One unit of work per request, for the API and the pages alike.

Every view runs inside `run_in_unit_of_work`: its session is committed when the view answers
below 400 and rolled back otherwise, or when it raises, before anything else (error rendering,
request logging) can touch it. Views and services never commit. A request that wrote nothing
(no pending ORM change, no statement but SELECTs: most GETs) has nothing to commit: its session
is closed instead, without the session's flush machinery. On MariaDB/MySQL such a request never
opened a transaction (registry.db_connections), so nothing at all is sent; elsewhere the close
is one ROLLBACK.

Races between concurrent writers surface as database errors; the transaction is rolled back
whole, so the view can simply run again on a fresh snapshot:
- a deadlock or lock-wait timeout (MySQL 1213/1205, SQLite "database is locked") is retried a
  few times, then answered 503 with Retry-After;
- a unique-key conflict is retried too (the second run sees the other writer's row, so identical
  concurrent requests all succeed), then answered 409.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import Callable

from flask import Flask, Response, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from .errors import Conflict, ServiceBusy
from .services import events

log = logging.getLogger(__name__)

ATTEMPTS = 3
# Lock waits are slow (each up to REGISTRY_DATABASE_LOCK_TIMEOUT): no new attempt after this long,
# so a request stuck behind a hung lock holder still answers within ~10 s.
RETRY_BUDGET_SECONDS = 5.0
# MySQL/MariaDB: 1213 deadlock, 1205 lock wait timeout; both end (or roll back) the transaction.
RETRYABLE_MYSQL_ERRORS = {1205, 1213}
# The kinds of error a database that is down, restarting or unreachable raises; which of them
# really mean that is decided by is_database_unavailable.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
# MySQL/MariaDB client and server codes of an unreachable, lost or shutting-down server.
UNAVAILABLE_MYSQL_ERRORS = {1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055}
UNAVAILABLE_SQLITE_MESSAGES = ("database is locked", "unable to open database file", "disk I/O error")
CONCURRENT_CHANGE = "Another request changed the same data at the same time; please retry."


# connection.info (kept with the pooled connection): a statement other than a SELECT ran since
# the connection was checked out, so the transaction may hold writes.
WROTE_KEY = "registry.wrote"


def db_session() -> Session:
    """The request's session, opened on first use."""
    session = g.get("db")
    if session is None:
        app = current_app._get_current_object()
        session = g.db = app.extensions["registry"].session_factory()
        buffer = events.event_buffer(app)
        if buffer is not None:
            session.info[events.BUFFER_KEY] = buffer
    return session


def track_writes(engine: Engine) -> None:
    """Mark each pooled connection that runs anything but a SELECT, until it is checked in."""
    if event.contains(engine, "before_cursor_execute", _note_write):
        return
    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine.pool, "checkout", _reset_write_mark)


def _note_write(connection, _cursor, statement, _parameters, _context, _executemany):
    if not statement.lstrip()[:6].upper() == "SELECT":
        connection.info[WROTE_KEY] = True


def _reset_write_mark(_dbapi_connection, record, _proxy):
    record.info.pop(WROTE_KEY, None)


# session.info: the Connection the session's transaction runs on, once it has one. A session can
# be in a transaction without a connection (adding an object begins one): asking it for its
# connection then would take one from the pool only to find that nothing ran on it.
CONNECTION_KEY = "registry.connection"


@event.listens_for(Session, "after_begin")
def _note_connection(session, _transaction, connection):
    session.info[CONNECTION_KEY] = connection


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session, transaction):
    if transaction.parent is None:
        session.info.pop(CONNECTION_KEY, None)


def has_writes(session: Session) -> bool:
    """Whether committing the session would change anything (conservative: any statement that
    is not a SELECT counts, SAVEPOINTs and the like included)."""
    if session.new or session.deleted or session.dirty:
        return True
    connection = session.info.get(CONNECTION_KEY)
    return connection is not None and bool(connection.info.get(WROTE_KEY))


def is_lock_conflict(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "args", (None,))[0]
    return code in RETRYABLE_MYSQL_ERRORS or "database is locked" in str(exc.orig)


def is_database_unavailable(exc: BaseException) -> bool:
    """A 503 (come back soon), as opposed to a bug or a statement the database refused (a 500)."""
    if isinstance(exc, (PoolTimeout, InterfaceError)) or getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "args", (None,))[0]
    return code in UNAVAILABLE_MYSQL_ERRORS or any(m in str(exc.orig) for m in UNAVAILABLE_SQLITE_MESSAGES)


def close_read_only(session: Session) -> None:
    """End a session that wrote nothing: no COMMIT (nothing to keep), at most one ROLLBACK
    (none on MariaDB/MySQL, where no transaction was opened). Its connection is closed first,
    while its transaction is still open, so the rollback is also the pool's reset on return:
    Session.close() alone rolls back and then has the pool roll back once more. The loaded rows
    stay readable, detached."""
    connection = session.info.get(CONNECTION_KEY)
    if connection is not None:
        connection.close()
    session.close()


def _rollback() -> None:
    """Roll back, keeping the session (the caller's User row stays attached and reloads on the
    next attempt); a session whose rollback fails too is discarded."""
    session = g.get("db")
    if session is None:
        return
    events.drop_pending(session)
    try:
        session.rollback()
    except Exception:  # noqa: BLE001 - the database may be the thing that failed
        discard_session()


def discard_session() -> None:
    """Roll back and close the request's session, if any; never raises (the database may be
    the thing that failed). A later db_session() starts afresh."""
    session = g.pop("db", None)
    if session is None:
        return
    events.drop_pending(session)
    try:
        session.rollback()
        session.close()
    except Exception:  # noqa: BLE001 - a dead connection is invalidated by the pool anyway
        log.debug("rollback of a failed session failed", exc_info=True)


def _status(result) -> int:
    if isinstance(result, Response):
        return result.status_code
    if isinstance(result, tuple) and len(result) > 1 and isinstance(result[1], int):
        return result[1]
    return 200


def run_in_unit_of_work(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = view(*args, **kwargs)
                session = g.get("db")
                if session is not None:
                    if _status(result) >= 400:
                        events.drop_pending(session)
                        session.rollback()
                    elif has_writes(session):
                        session.commit()
                        events.hand_over(session)
                    else:
                        close_read_only(session)
                        events.hand_over(session)
                return result
            except BaseException as exc:
                _rollback()
                retryable = isinstance(exc, IntegrityError) or is_lock_conflict(exc)
                if not retryable:
                    raise
                if attempt == ATTEMPTS or time.monotonic() - started > RETRY_BUDGET_SECONDS:
                    log.warning("gave up after %d attempts: %s", attempt, getattr(exc, "orig", exc))
                    if isinstance(exc, IntegrityError):
                        raise Conflict(CONCURRENT_CHANGE) from exc
                    raise ServiceBusy(CONCURRENT_CHANGE, retry_after=1) from exc
                # Short, jittered pauses so the writers that collided do not collide again.
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    return wrapper


def init_unit_of_work(app: Flask) -> None:
    """Wrap every registered view; call once all blueprints are registered."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = run_in_unit_of_work(view)
    track_writes(app.extensions["registry"].engine)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()
