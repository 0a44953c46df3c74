"""The audit trail (protocol.md 10.6).

Events of writes (PUSH, DELETE) are rows of the write's own transaction. Events of reads
(INSTALL, PREVIEW) are too, except in a server process that buffers them (`registry serve`:
gunicorn's post_worker_init hook calls `start_buffering`): there a read that succeeds hands its
events to the worker's `EventBuffer`, which a background thread writes in one multi-row INSERT
and COMMIT at most FLUSH_SECONDS later (or as soon as FLUSH_EVENTS are waiting), so a GET costs
no INSERT and no COMMIT of its own. An event keeps the time of its request, so counts by time
(services/timeseries.py, the audit) are the same; they only show up to FLUSH_SECONDS later.

What can be lost: nothing on a clean stop (SIGTERM, SIGINT, SIGQUIT, gunicorn's max_requests
restarts and worker timeouts all exit through gunicorn's worker_exit hook and atexit, which
write what is waiting). A worker killed outright (SIGKILL, the OOM killer, a power cut) loses
the events it had not written yet: at most FLUSH_SECONDS worth, and never more than
FLUSH_EVENTS plus what arrived during one write. While the database refuses the writes, events
wait (up to MAX_PENDING; beyond that the oldest are dropped, logged and counted in
registry_events_dropped_total).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .. import metrics
from ..db import utcnow
from ..models import Event
from ..names import MAX_NAME_LENGTH, is_username
from ..read_cache import unseen_by_cached_reads
from .context import Context

log = logging.getLogger(__name__)

PUSH, INSTALL, PREVIEW, DELETE = "PUSH", "INSTALL", "PREVIEW", "DELETE"
# Account events: no package (owner and name are empty); `user` is the account concerned.
LOGIN_FAILED, TOKEN_REUSED = "LOGIN_FAILED", "TOKEN_REUSED"
# Events of reads: buffered where a buffer is running, so the read writes nothing itself.
DEFERRABLE = frozenset({INSTALL, PREVIEW})

FLUSH_SECONDS = 0.5  # longest an event waits in a running worker
FLUSH_EVENTS = 500  # write at once when this many wait
MAX_PENDING = 100_000  # while the database is away; beyond this the oldest go
RETRY_SECONDS = 2.0  # after a failed write
STOP_SECONDS = 10.0  # the last write at exit gives up after this long

# Session.info keys: the buffer a session's read events go to, and the events of its request.
BUFFER_KEY = "registry.event_buffer"
PENDING_KEY = "registry.pending_events"


def record_event(ctx: Context, kind: str, owner: str, name: str, package_hash: str | None = None,
                 extra: dict | None = None) -> None:
    metrics.PACKAGE_EVENTS.labels(kind).inc()
    row = {"created_at": utcnow(), "user": ctx.actor.audit_name, "type": kind, "package_owner": owner,
           "package_name": name, "package_hash": package_hash,
           "extra": None if extra is None else json.dumps(extra)}
    info = ctx.session.info
    if kind in DEFERRABLE and BUFFER_KEY in info:
        # Kept with the request's session: handed to the buffer only if the request succeeds
        # (`hand_over`), dropped with its rollback otherwise, as a row of the transaction would be.
        info.setdefault(PENDING_KEY, []).append(row)
    else:
        ctx.session.add(Event(**row))


def hand_over(session: Session) -> None:
    """The request succeeded: its buffered events go to the worker's buffer."""
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        session.info[BUFFER_KEY].add(pending)


def replay(buffer: "EventBuffer", rows: tuple[dict, ...]) -> None:
    """The read events of an answer the response cache replays (registry.api.response_cache):
    as the first answer recorded them, created now."""
    now = utcnow()
    for row in rows:
        metrics.PACKAGE_EVENTS.labels(row["type"]).inc()
    buffer.add([{**row, "created_at": now} for row in rows])


def drop_pending(session: Session) -> None:
    """The request failed (or runs again): its buffered events go with its rollback."""
    session.info.pop(PENDING_KEY, None)


class EventBuffer:
    """Events of one worker process, written in bulk by a background thread (see the module)."""

    def __init__(self, engine: Engine, *, flush_seconds: float = FLUSH_SECONDS, flush_events: int = FLUSH_EVENTS,
                 max_pending: int = MAX_PENDING):
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.flush_events = flush_events
        self.max_pending = max_pending
        self.pid = os.getpid()
        self._rows: list[dict] = []
        self._oldest = 0.0  # monotonic time the oldest waiting event arrived
        self._lock = threading.Lock()  # guards _rows and _oldest
        self._wake = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one write at a time, in arrival order
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> "EventBuffer":
        self._thread = threading.Thread(target=self._run, name="registry-event-writer", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def add(self, rows: list[dict]) -> None:
        if not self.running or os.getpid() != self.pid:
            # Stopped (the worker is exiting) or a forked child: nobody would write them later.
            try:
                self._write(rows)
            except Exception:  # noqa: BLE001 - the read it records has been answered already
                log.exception("lost %d events: the database did not take them", len(rows))
                metrics.EVENTS_DROPPED.inc(len(rows))
            return
        with self._lock:
            first = not self._rows
            if first:
                self._oldest = time.monotonic()
            self._rows.extend(rows)
            if first or len(self._rows) >= self.flush_events:
                self._wake.notify()  # the writer sets its deadline, or writes now

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def flush(self) -> int:
        """Write every waiting event now; returns how many were written (raises if the write failed,
        keeping them to try again)."""
        with self._write_lock:
            with self._lock:
                rows, self._rows, arrived = self._rows, [], self._oldest
            if not rows:
                return 0
            try:
                self._write(rows)
            except BaseException:
                self._put_back(rows, arrived)
                raise
            return len(rows)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the thread and write what waits (gunicorn's worker_exit, atexit). Idempotent."""
        if os.getpid() != self.pid:
            return
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._wake.notify()
        atexit.unregister(self.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self.pending():
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the database may be the thing that is down
                if time.monotonic() >= deadline:
                    count = self.pending()
                    log.error("lost %d buffered events at exit: the database did not take them", count)
                    metrics.EVENTS_DROPPED.inc(count)
                    return
                time.sleep(0.2)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopping:
                    if self._rows:
                        left = self._oldest + self.flush_seconds - time.monotonic()
                        if left <= 0 or len(self._rows) >= self.flush_events:
                            break
                        self._wake.wait(left)
                    else:
                        self._wake.wait()
                if self._stopping:
                    return  # stop() writes the rest
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - kept; tried again after a pause
                log.warning("could not write %d buffered events; retrying", self.pending(), exc_info=True)
                time.sleep(RETRY_SECONDS)

    def _put_back(self, rows: list[dict], arrived: float) -> None:
        """Rows a write failed to take, back in front of any that came since: due when they were
        (the writer retries those it failed on after its pause; a flush of rows not yet due, by
        stop() or by hand, leaves them to their own time rather than making them due at once)."""
        with self._lock:
            self._rows[:0] = rows
            self._oldest = arrived
            self._wake.notify()  # the writer may be waiting for a later deadline than theirs
            excess = len(self._rows) - self.max_pending
            if excess > 0:
                del self._rows[:excess]
        if excess > 0:
            log.error("dropped the %d oldest buffered events: the database has not taken them", excess)
            metrics.EVENTS_DROPPED.inc(excess)

    def _write(self, rows: list[dict]) -> None:
        with unseen_by_cached_reads(), self.engine.begin() as connection:
            connection.execute(insert(Event.__table__), rows)


def start_buffering(app) -> EventBuffer:
    """Buffer this process's read events (call once per worker, after the fork)."""
    buffer = app.extensions.get("registry.events")
    if buffer is None or buffer.pid != os.getpid():
        buffer = app.extensions["registry.events"] = EventBuffer(app.extensions["registry"].engine).start()
    return buffer


def stop_buffering(app) -> None:
    buffer = app.extensions.pop("registry.events", None)
    if buffer is not None:
        buffer.stop()


def event_buffer(app) -> EventBuffer | None:
    buffer = app.extensions.get("registry.events")
    return buffer if buffer is not None and buffer.pid == os.getpid() else None


def record_account_event(engine: Engine, kind: str, name: str, extra: dict) -> None:
    """Committed at once, in a transaction of its own: the request that reports a failed sign-in
    answers an error and rolls its own work back, but the event must stay. A `name` that cannot
    be a user name is kept in `extra` instead."""
    user = name if is_username(name) else None
    if user is None:
        extra = {**extra, "name": name[:MAX_NAME_LENGTH]}
    with unseen_by_cached_reads(), engine.begin() as connection:
        connection.execute(insert(Event).values(user=user, type=kind, package_owner="", package_name="",
                                                extra=json.dumps(extra)))
