"""MySQL connections (PyMySQL) that cost one round trip per read, not three.

By default every request pays for a ping when it takes a pooled connection (`pool_pre_ping`),
its statements, and a ROLLBACK when it gives the connection back: a metadata read that runs one
SELECT makes three round trips to the server. Here:

- **Transactions begin at the first write.** Connections run in autocommit mode; before the
  first statement that writes or takes locks (anything but a plain SELECT, and SELECT ... FOR
  UPDATE / FOR SHARE) the connection sends BEGIN, so that statement and everything after it
  form one transaction up to the COMMIT or ROLLBACK, as before. Under READ COMMITTED each
  statement sees what was committed when it started, in a transaction or not, so the plain
  SELECTs that ran before the BEGIN saw exactly what they would have seen inside it. A request
  that only read has no transaction: its COMMIT or ROLLBACK (the pool's reset included) is not
  sent at all, and no idle pooled connection holds a transaction (or the metadata locks that
  would block a migration's ALTER TABLE).
- **No ping for a connection in use.** A pooled connection is checked without a round trip
  when taken from the pool: if its socket is readable while no answer is due, the server has
  closed it (a restart, `wait_timeout`, a killed connection), and the pool opens a new one in its
  place. Only a connection idle for IDLE_PING_SECONDS is also pinged (a peer that vanished without
  closing its connections, e.g. behind a firewall that drops idle ones).

PyMySQL reports, with every answer, whether a transaction is open (SERVER_STATUS_IN_TRANS);
that flag decides when BEGIN, COMMIT and ROLLBACK are sent.
"""

from __future__ import annotations

import select
import time

from pymysql.constants import SERVER_STATUS
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

IDLE_PING_SECONDS = 10.0
# SQLAlchemy's MySQL compiler ends a locking SELECT with one of these (then OF, NOWAIT, SKIP LOCKED).
LOCKING_CLAUSES = (" FOR UPDATE", " FOR SHARE", " LOCK IN SHARE MODE")
LOCKING_TAIL = 256  # characters at the end of a SELECT where a locking clause is looked for
CHECKED_IN_KEY = "registry.checked_in"
_NO_SOCKET_ATTRIBUTE = object()


def in_transaction(dbapi_connection) -> bool:
    return bool(dbapi_connection.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


def needs_transaction(statement: str) -> bool:
    """Whether a statement writes or locks: anything but a plain SELECT. Unsure means yes (a
    BEGIN too many costs a round trip; one too few would lose atomicity)."""
    if statement.lstrip()[:6].upper() != "SELECT":
        return True
    tail = statement[-LOCKING_TAIL:].upper()
    return any(clause in tail for clause in LOCKING_CLAUSES)


def begin_at_first_write(engine: Engine) -> None:
    dialect = engine.dialect

    def connected(dbapi_connection, _record):
        # After SQLAlchemy's own connect handler, which set READ COMMITTED and autocommit off.
        dbapi_connection.autocommit(True)

    def before_statement(cursor, statement, *_rest):
        # A dialect event, so a failure here is handled like the statement's own (wrapped,
        # and a lost connection invalidated).
        if not in_transaction(cursor.connection) and needs_transaction(statement):
            cursor.connection.begin()

    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection):
        if in_transaction(dbapi_connection):
            plain_commit(dbapi_connection)

    def do_rollback(dbapi_connection):
        if in_transaction(dbapi_connection):
            plain_rollback(dbapi_connection)

    event.listen(engine.pool, "connect", connected)
    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        event.listen(engine, name, before_statement)
    # Per engine: this dialect object belongs to this engine alone.
    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


def check_on_checkout(engine: Engine) -> None:
    def checked_in(_dbapi_connection, record):
        if record is not None:
            record.info[CHECKED_IN_KEY] = time.monotonic()

    def checked_out(dbapi_connection, record, _proxy):
        if closed_by_server(dbapi_connection):
            raise exc.DisconnectionError("the server closed this pooled connection")
        last = record.info.get(CHECKED_IN_KEY)
        if last is not None and time.monotonic() - last > IDLE_PING_SECONDS:
            try:
                dbapi_connection.ping(reconnect=False)
            except Exception as error:  # noqa: BLE001 - any failure: the pool opens a new connection
                raise exc.DisconnectionError(f"pooled connection lost while idle: {error}") from error

    event.listen(engine.pool, "checkin", checked_in)
    event.listen(engine.pool, "checkout", checked_out)


def closed_by_server(dbapi_connection) -> bool:
    """Between requests nothing is due from the server: a readable socket means it sent its end
    of the connection (or bytes out of turn, which make the connection as unusable). A PyMySQL
    that keeps its socket elsewhere is asked with a ping instead."""
    sock = getattr(dbapi_connection, "_sock", _NO_SOCKET_ATTRIBUTE)
    if sock is _NO_SOCKET_ATTRIBUTE:
        try:
            dbapi_connection.ping(reconnect=False)
        except Exception:  # noqa: BLE001 - any failure: the pool opens a new connection
            return True
        return False
    if sock is None:  # closed on our side
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
