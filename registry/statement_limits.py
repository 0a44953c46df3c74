"""How long the database may work on one statement of the web app before it stops it itself.

The read timeout (REGISTRY_DATABASE_READ_TIMEOUT) only makes the *client* stop waiting: the
server goes on with the statement until it ends. A request that makes the database scan a
large part of what it holds (an anonymous search of ten words over every package's node names)
would then go on costing the database after its 503, and a client that repeats it piles that
work up. So the database is told the bound as well, a little below the read timeout, and its
own error (answered 503 `database_timeout`) arrives first, on a connection that stays usable:

- MariaDB: `max_statement_time` (seconds), for every statement of the connection;
- MySQL: `max_execution_time` (milliseconds), which applies to SELECTs only;
- SQLite: a progress handler interrupts a read that runs past the bound. Reads only, because
  a write may first wait its busy timeout for the write lock, and is bounded by that.
"""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .db_connections import needs_transaction

# SQLite calls the progress handler every this many virtual-machine steps, about a row of a
# search: one step may be long (a LIKE over a package's 1 MB of node names). The calls cost
# nothing measurable on a LIKE over a million short rows (within the run-to-run noise).
SQLITE_CHECK_STEPS = 100
MARIADB_TIMEOUT, MYSQL_TIMEOUT = 1969, 3024  # "max_statement_time exceeded", "maximum statement execution time exceeded"
SQLITE_INTERRUPTED = "interrupted"


def bound_statements(engine: Engine, seconds: float) -> None:
    if engine.dialect.name == "sqlite":
        _bound_sqlite_reads(engine, seconds)
    else:
        event.listen(engine.pool, "connect", lambda connection, _record: _set_server_bound(connection, seconds))


def _set_server_bound(dbapi_connection, seconds: float) -> None:
    mariadb = "mariadb" in dbapi_connection.get_server_info().lower()
    setting = (f"max_statement_time = {seconds:.3f}" if mariadb
               else f"max_execution_time = {max(1, round(seconds * 1000))}")
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SET SESSION {setting}")
    finally:
        cursor.close()


def _bound_sqlite_reads(engine: Engine, seconds: float) -> None:
    def before_statement(_connection, cursor, statement, *_rest):
        # Each statement replaces the last one's handler: a write runs with none.
        sqlite = cursor.connection
        if needs_transaction(statement):
            sqlite.set_progress_handler(None, 0)
            return
        deadline = time.monotonic() + seconds
        sqlite.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_CHECK_STEPS)

    def transaction_ended(connection):
        # The last read's bound ends with its transaction: a COMMIT after it is not interrupted.
        connection.connection.dbapi_connection.set_progress_handler(None, 0)

    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", transaction_ended)
    event.listen(engine, "rollback", transaction_ended)


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether a DBAPI error (SQLAlchemy's `exc.orig`) is the database stopping a statement
    at its bound."""
    args = getattr(exc, "args", ())
    if args and args[0] in (MARIADB_TIMEOUT, MYSQL_TIMEOUT):
        return True
    return type(exc).__module__.startswith("sqlite3") and str(exc) == SQLITE_INTERRUPTED
