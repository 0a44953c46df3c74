"""Answers to hot reads, kept per process until the next committed write anywhere.

A metadata read (the tag a client installs, an instance's row and whether the caller may read
it, the user behind a bearer token) is one small SELECT, yet its round trip and its execution
cost more than the rest of the request. Here each process keeps such answers, keyed by the
statement and its parameters, and uses one only while nothing has been written since:

- **A write generation, shared by every process that writes the database.** Every COMMIT of a
  transaction that wrote replaces it with a new random value (`watch_commits`), before the
  write's request answers. A request reads it once, before its first cached read, and uses only
  answers stored under that same value. So a client that saw its write succeed, or anyone who
  asks after that, never gets an answer from before it: a write is visible to the next request
  on every host, as without the cache. A value is random, never a counter, so it never comes
  back (a Redis that restarts empty cannot bring an old generation to life).
- **Where it lives:** a Redis every host reaches (`REGISTRY_READ_CACHE=redis://...`, or the
  throttling Redis when `auto`), or a small shared file in the data directory (`host`: every
  worker of one host; the default on SQLite, which is one host's database by nature). With
  neither, MariaDB/MySQL reads are not cached: another host's writes would go unseen.
- **A time limit as backstop** (`REGISTRY_READ_CACHE_SECONDS`): an answer is reused at most that
  long, for writes made outside the registry (SQL typed into the database) or a generation
  bump lost to a Redis outage. While the generation cannot be read, nothing is cached.

Answers must be plain values (rows, tuples), never ORM objects bound to a session, and the
statement's result must depend on its parameters and the database alone (no NOW()).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import mmap
import os
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from pymysql.constants import SERVER_STATUS
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .config import REDIS_SCHEMES, Settings

log = logging.getLogger(__name__)

GENERATION_BYTES = 16
MAX_ENTRIES = 20_000  # per process; past it the cache starts over (a flood of keys costs its sender)
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_SECONDS = 2.0  # after a Redis error, reads go straight to the database this long
GENERATION_FILE = "write-generation"
CALLBACKS_ATTRIBUTE = "registry_commit_callbacks"
GENERATION_KEY = "registry.generation"  # WSGI environ: the generation a request was begun under


class WriteGeneration(Protocol):
    def current(self) -> bytes | None:
        """The generation now; None when it cannot be known (then nothing is cached)."""

    def bump(self) -> None:
        """A write committed: a new generation."""


class HostGeneration:
    """The generation in a 16-byte file mapped into memory by every process of one host: reading
    it costs no system call. A reader may see a half-written value; that is only one more value
    that no answer is stored under."""

    def __init__(self, path: Path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < GENERATION_BYTES:
                os.ftruncate(fd, GENERATION_BYTES)
            self._map = mmap.mmap(fd, GENERATION_BYTES)
        finally:
            os.close(fd)  # the mapping stays valid

    def current(self) -> bytes:
        return self._map[:GENERATION_BYTES]

    def bump(self) -> None:
        self._map[:GENERATION_BYTES] = os.urandom(GENERATION_BYTES)


class RedisGeneration:
    """The generation in one Redis key, named by an HMAC under the server secret so that two
    registries sharing a Redis never share it. Each thread reads it over a connection of its own
    with a GET encoded once: a third of the CPU of a client call through redis-py's pool and
    retries, and this runs on every cached request. After an error, Redis is left alone for
    REDIS_RETRY_SECONDS: a Redis that hangs costs each request nothing, not a timeout."""

    def __init__(self, url: str, secret_key: str):
        import redis

        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                            socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        digest = hmac.new(secret_key.encode(), b"write-generation", hashlib.sha256).hexdigest()[:32]
        self.key = f"registry:generation:{digest}"
        self._packed_get = self._client.connection_pool.make_connection().pack_command("GET", self.key)
        self._local = threading.local()
        self._failed_at = -REDIS_RETRY_SECONDS

    def current(self) -> bytes | None:
        if time.monotonic() - self._failed_at < REDIS_RETRY_SECONDS:
            return None
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._client.connection_pool.make_connection()
        try:
            connection.send_packed_command(self._packed_get, check_health=False)  # connects if need be
            value = connection.read_response()
            if value is None:  # a Redis that started empty: a generation nobody stored an answer under
                self._client.set(self.key, os.urandom(GENERATION_BYTES), nx=True)
                value = self._client.get(self.key)
            return value
        except self._errors as exc:
            connection.disconnect()
            self._failed(f"the write generation cannot be read from Redis: {exc}")
            return None

    def bump(self) -> None:
        try:
            self._client.set(self.key, os.urandom(GENERATION_BYTES))
        except self._errors as exc:
            # The write stands; other processes may keep older answers up to the time limit.
            self._failed(f"a committed write could not renew the generation in Redis: {exc}")

    def forget(self) -> None:
        """Remove the key (a registry taken down for good; the benchmarks' and tests' cleanup)."""
        try:
            self._client.delete(self.key)
        except self._errors as exc:
            log.warning("could not remove %s from Redis: %s", self.key, exc)

    def _failed(self, message: str) -> None:
        self._failed_at = time.monotonic()
        log.error("read cache off for %.0f s: %s", REDIS_RETRY_SECONDS, message)


class ReadCache:
    """One process's answers for one database; `reads()` gives a request its view."""

    def __init__(self, generation: WriteGeneration, seconds: float):
        self.generation = generation
        self.seconds = seconds
        self._entries: dict = {}  # key -> (generation, expires at, answer)
        self._generation: bytes | None = None  # the newest generation seen; older entries are dropped

    def reads(self, generation: bytes | None = None) -> "CachedReads":
        """A request's view; `generation`: the one its response was looked up under, if read."""
        return CachedReads(self, generation)

    def lookup(self, generation: bytes, key):
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation and entry[1] > time.monotonic():
            return entry
        return None

    def store(self, generation: bytes, key, answer) -> None:
        if generation != self._generation or len(self._entries) >= MAX_ENTRIES:
            # Single dict operations are atomic: a concurrent store lost here is only a miss later.
            self._entries = {}
            self._generation = generation
        self._entries[key] = (generation, time.monotonic() + self.seconds, answer)


class CachedReads:
    """A request's view of the cache: the generation is read once, at its first cached read and
    so before any answer it uses was read from the database."""

    _UNREAD = object()

    def __init__(self, cache: ReadCache, generation: bytes | None = None):
        self._cache = cache
        self._generation = self._UNREAD if generation is None else generation

    def first(self, session: Session, name: str, statement, params: dict):
        """`session.connection().execute(statement, params).first()`, or the same answer kept since
        the last write (then no database connection is taken at all). `name` stands for the
        statement: one name, one statement. Only for requests that have written nothing yet: a
        kept answer does not see the request's own uncommitted writes."""
        if self._generation is self._UNREAD:
            self._generation = self._cache.generation.current()
        generation = self._generation
        if generation is None:
            return session.connection().execute(statement, params).first()
        key = (name, *params.items())
        entry = self._cache.lookup(generation, key)
        if entry is not None:
            return entry[2]
        answer = session.connection().execute(statement, params).first()
        self._cache.store(generation, key, answer)
        return answer


class Uncached:
    """CachedReads without a cache: the command line, and deployments with caching off."""

    @staticmethod
    def first(session: Session, _name: str, statement, params: dict):
        return session.connection().execute(statement, params).first()


UNCACHED = Uncached()


def make_generation(settings: Settings, secret_key: Callable[[], str]) -> WriteGeneration | None:
    """Where this deployment's write generation lives (REGISTRY_READ_CACHE); None: no caching."""
    place = settings.read_cache
    if place == "auto":
        if settings.is_embedded_database:
            place = "host"
        elif settings.ratelimit_storage_url.startswith(REDIS_SCHEMES):
            place = settings.ratelimit_storage_url
        else:
            return None
    if place == "off" or settings.read_cache_seconds <= 0:
        return None
    if place == "host":
        try:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return HostGeneration(settings.data_dir / GENERATION_FILE)
        except OSError as exc:  # the registry still serves (and /healthcheck reports the data directory)
            log.error("read cache off: no write generation file in %s: %s", settings.data_dir, exc)
            return None
    return RedisGeneration(place, secret_key())


# -- the writer's side ---------------------------------------------------------------------------

def watch_commits(engine: Engine, on_commit: Callable[[], None]) -> None:
    """Call `on_commit` after every COMMIT of a transaction that wrote (or, where the driver cannot
    tell, of every transaction), even one whose COMMIT failed midway: an extra new generation
    costs a few cache misses, a missing one stale answers."""
    dialect = engine.dialect  # per engine: this dialect object belongs to this engine alone
    callbacks = getattr(dialect, CALLBACKS_ATTRIBUTE, None)
    if callbacks is None:
        callbacks = []
        setattr(dialect, CALLBACKS_ATTRIBUTE, callbacks)
        plain_commit = dialect.do_commit

        def do_commit(dbapi_connection):
            wrote = _transaction_open(dbapi_connection) and not getattr(_unseen, "active", False)
            try:
                plain_commit(dbapi_connection)
            finally:
                if wrote:
                    for callback in callbacks:
                        callback()

        dialect.do_commit = do_commit
    callbacks.append(on_commit)


_unseen = threading.local()


@contextlib.contextmanager
def unseen_by_cached_reads():
    """Writes in this block, on this thread, go to tables no cached read looks at (the event log,
    flushed by every worker twice a second; throttling counters, which any client can make
    others write): their COMMIT keeps the generation, and the cache."""
    _unseen.active = True
    try:
        yield
    finally:
        _unseen.active = False


def _transaction_open(dbapi_connection) -> bool:
    status = getattr(dbapi_connection, "server_status", None)  # PyMySQL
    if isinstance(status, int):
        return bool(status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
    in_transaction = getattr(dbapi_connection, "in_transaction", None)  # sqlite3: after a write only
    if isinstance(in_transaction, bool):
        return in_transaction
    return True
