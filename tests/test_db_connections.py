"""MySQL connections (registry.db_connections): a read is one round trip; writes and locks are still
one transaction each; a connection the server closed, or one idle too long, is never handed out."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import OperationalError

from registry import db_connections
from registry.db import make_engine, make_session_factory
from registry.models import Package
from registry.unit_of_work import close_read_only

COM_QUERY, COM_PING = 3, 14


@pytest.fixture
def mysql_url(clean_database):
    if not clean_database.startswith("mysql"):
        pytest.skip("connection handling of MariaDB/MySQL (PyMySQL); SQLite has no server connection")
    return clean_database


@pytest.fixture
def engine(mysql_url):
    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


class Commands:
    """What PyMySQL sends to the server: (command, SQL) for every round trip of the engine."""

    def __init__(self, engine):
        self.sent: list[tuple[int, str]] = []
        event.listen(engine.pool, "connect", self._watch)

    def _watch(self, dbapi_connection, _record):
        plain = dbapi_connection._execute_command

        def counted(command, sql):
            self.sent.append((command, sql if isinstance(sql, str) else sql.decode(errors="replace")))
            return plain(command, sql)

        dbapi_connection._execute_command = counted

    def since(self, mark: int) -> list[tuple[int, str]]:
        return self.sent[mark:]


def _package_row(name: str) -> dict:
    return {"owner": "alice", "name": name, "folded_handle": f"alice/{name}"}


def _dialect_sql(statement) -> str:
    return str(statement.compile(dialect=mysql.dialect()))


@pytest.mark.parametrize("statement", [
    select(Package).with_for_update(),
    select(Package).with_for_update(read=True),
    select(Package).with_for_update(nowait=True),
    select(Package).with_for_update(skip_locked=True),
    select(Package).where(Package.owner == "a").limit(1).with_for_update(of=Package),
    insert(Package).values(_package_row("x")),
    update(Package).values(name="y"),
    text("DELETE FROM package"),
    text("SAVEPOINT sa_savepoint_1"),
    text("  with x as (select 1) select * from x"),  # unsure: a transaction
])
def test_writes_and_locking_reads_need_a_transaction(statement):
    assert db_connections.needs_transaction(_dialect_sql(statement))


@pytest.mark.parametrize("statement", [select(Package), select(Package.id).where(Package.name == "FOR UPDATE"),
                                       text("select 1")])
def test_plain_reads_do_not(statement):
    assert not db_connections.needs_transaction(_dialect_sql(statement))


def test_a_read_is_one_round_trip_and_leaves_no_transaction(engine):
    commands = Commands(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:  # the first use opens the connection (and sets it up)
        session.execute(select(Package.id)).all()
        close_read_only(session)
    mark = len(commands.sent)
    with sessions() as session:
        session.execute(select(Package.id)).all()
        dbapi_connection = session.connection().connection.dbapi_connection
        assert not db_connections.in_transaction(dbapi_connection)
        close_read_only(session)
    # No ping, no BEGIN, no ROLLBACK on return to the pool: the SELECT alone.
    assert [(command, sql.split()[0]) for command, sql in commands.since(mark)] == [(COM_QUERY, "SELECT")]


def test_a_write_is_one_transaction_from_its_first_write_to_the_commit(engine):
    commands = Commands(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        session.execute(select(Package.id)).all()
        session.execute(insert(Package).values(_package_row("one")))
        session.execute(insert(Package).values(_package_row("two")))
        session.rollback()
        assert session.scalars(select(Package.name)).all() == []  # both rolled back together
        session.execute(insert(Package).values(_package_row("three")))
        session.commit()
    sent = [sql.split()[0].upper() for _, sql in commands.sent if not sql.startswith("SET")]
    assert sent == ["SELECT", "BEGIN", "INSERT", "INSERT", "ROLLBACK", "SELECT", "BEGIN", "INSERT", "COMMIT"]
    with sessions() as session:
        assert session.scalars(select(Package.name)).all() == ["three"]


def test_a_locking_read_holds_its_lock_until_the_commit(engine):
    sessions = make_session_factory(engine)
    with sessions() as session:
        session.execute(insert(Package).values(_package_row("locked")))
        session.commit()
    holder, waiter = sessions(), sessions()
    try:
        holder.execute(select(Package).where(Package.name == "locked").with_for_update()).one()
        time.sleep(0.05)  # autocommit would have released the lock by now
        with pytest.raises(OperationalError) as raised:
            waiter.execute(select(Package).where(Package.name == "locked").with_for_update(nowait=True)).one()
        assert raised.value.orig.args[0] in (1205, 3572), raised.value  # MariaDB: lock wait; MySQL: NOWAIT
        waiter.rollback()
        holder.commit()
        assert waiter.execute(select(Package).where(Package.name == "locked").with_for_update(nowait=True)).one()
        waiter.commit()
    finally:
        holder.close()
        waiter.close()


def test_a_connection_closed_by_the_server_is_replaced_without_an_error(engine, mysql_url):
    sessions = make_session_factory(engine)
    with sessions() as session:
        first = session.execute(text("SELECT CONNECTION_ID()")).scalar()
        close_read_only(session)
    killer = make_engine(mysql_url, pooled=False)
    try:
        with killer.connect() as connection:
            connection.execute(text(f"KILL CONNECTION {int(first)}"))
    finally:
        killer.dispose()
    deadline = time.monotonic() + 5
    while engine.pool.checkedin() and time.monotonic() < deadline:
        with engine.connect() as probe:  # the dead one is found at checkout, before any statement
            second = probe.execute(text("SELECT CONNECTION_ID()")).scalar()
        if second != first:
            break
        time.sleep(0.05)  # the server's FIN may take a moment to arrive
    assert second != first


def test_a_connection_idle_too_long_is_pinged_first(engine, monkeypatch):
    commands = Commands(engine)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    monkeypatch.setattr(db_connections, "IDLE_PING_SECONDS", 0.0)
    mark = len(commands.sent)
    time.sleep(0.01)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert [command for command, _ in commands.since(mark)] == [COM_PING, COM_QUERY]


def test_concurrent_increments_through_lazy_transactions_lose_nothing(engine):
    """Read-then-write under a row lock, from several threads: each increment sees the last."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        package_id = session.execute(insert(Package).values(_package_row("0"))).inserted_primary_key[0]
        session.commit()
    this_row = Package.id == package_id  # by primary key: a scan of the index on the name, which
    # the update moves, may pass the new entry by and find no row (InnoDB, with or without this)

    def increment():
        for _ in range(10):
            with sessions() as session:
                value = int(session.execute(select(Package.name).where(this_row).with_for_update()).scalar())
                session.execute(update(Package).where(this_row).values(_package_row(str(value + 1))))
                session.commit()

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        assert session.scalars(select(Package.name)).all() == ["40"]


def test_the_socket_check_on_a_connection_without_the_attribute_pings(engine):
    """Should PyMySQL keep its socket elsewhere one day, checkout asks the server instead."""
    class Elsewhere:
        def __init__(self, alive: bool):
            self.alive, self.pinged = alive, 0

        def ping(self, reconnect: bool):
            self.pinged += 1
            if not self.alive:
                raise OSError("gone")

    alive, dead = Elsewhere(True), Elsewhere(False)
    assert not db_connections.closed_by_server(alive) and alive.pinged == 1
    assert db_connections.closed_by_server(dead) and dead.pinged == 1
    with engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        assert not db_connections.closed_by_server(dbapi_connection)  # the real one: its socket, no ping
