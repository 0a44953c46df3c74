"""Alembic environment: runs on the engine given by registry.migrate (never a URL in a file)."""

from alembic import context

from registry import models  # noqa: F401 - registers the tables
from registry.db import Base

engine = context.config.attributes["engine"]


def _sqlite_foreign_keys(connection, on: bool) -> None:
    # A PRAGMA outside any transaction: SQLite ignores this one inside a transaction.
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table (copy, drop, rename) that other tables reference;
        # with foreign keys enforced, dropping it would break their rows. SQLite's own recipe:
        # keys off meanwhile, every key checked before the changes are committed.
        _sqlite_foreign_keys(connection, False)
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                          render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        if sqlite:
            connection.rollback()  # nothing is left open by now; the PRAGMA needs no transaction
            _sqlite_foreign_keys(connection, True)
