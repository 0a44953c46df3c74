"""The request boundary: one unit of work per request, committed on success and rolled back on
any error; lock conflicts retried a bounded number of times, then a JSON 503 with Retry-After."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time

import pytest
from sqlalchemy import text

from registry import create_app
from registry.db import make_engine
from tests.helpers import TestRegistry, build_tree


@pytest.fixture
def quick_locks(settings):
    """The registry with a one-second lock wait, and alice's package with two instances."""
    app = create_app(dataclasses.replace(settings, database_lock_timeout=1))
    registry = TestRegistry(app)
    registry.create_user("alice")
    token = registry.token("alice")
    first, _ = registry.push(token, "alice", "pkg", {"a.txt": b"1"})
    second, second_hash = registry.push(token, "alice", "pkg", {"a.txt": b"2"})
    assert first.status_code == second.status_code == 200
    yield registry, token, second_hash
    app.extensions["registry"].engine.dispose()


@contextlib.contextmanager
def write_lock_held_elsewhere(url: str):
    """Another writer holding the package: a row lock on MySQL, the database's write lock on SQLite."""
    engine = make_engine(url)
    connection = engine.connect()
    sqlite = connection.dialect.name == "sqlite"
    try:
        if sqlite:
            connection.detach()  # the driver's own transaction handling must not start one first
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("SELECT id FROM package FOR UPDATE"))
        yield
    finally:
        connection.exec_driver_sql("ROLLBACK") if sqlite else connection.rollback()
        connection.close()
        engine.dispose()


def test_a_lock_held_too_long_is_a_503_with_retry_after_then_works_again(quick_locks, settings):
    registry, token, target = quick_locks
    with write_lock_held_elsewhere(settings.effective_database_url):
        started = time.monotonic()
        busy = registry.api("PUT", "/api/tag/alice/pkg/stable", token=token, body={"hash": target})
        waited = time.monotonic() - started
    assert busy.status_code == 503
    assert busy.get_json() == {"message": "Another request changed the same data at the same time; please retry.",
                               "code": "busy", "status": 503}
    assert busy.headers["Retry-After"] == "1"
    assert waited >= 1 and waited < 10  # a bounded number of one-second waits
    again = registry.api("PUT", "/api/tag/alice/pkg/stable", token=token, body={"hash": target})
    assert again.status_code == 200


def test_request_log_names_the_user_after_a_failed_write(quick_locks):
    """The log line is written after the rollback and must not reload the expired user."""
    registry, token, _ = quick_locks
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    request_log = logging.getLogger("registry.requests")
    request_log.addHandler(handler)
    try:
        response = registry.api("PUT", "/api/tag/alice/pkg/stable", token=token, body={"hash": "0" * 64})
    finally:
        request_log.removeHandler(handler)
    assert response.status_code == 404
    fields = [r.fields for r in records if r.fields["path"] == "/api/tag/alice/pkg/stable"]
    assert fields and fields[-1]["user"] == "alice" and fields[-1]["status"] == 404


def test_a_retried_push_still_finds_the_copies_it_staged(settings):
    """bob pushes to alice's team package, so his fragments are staged and verified before the
    package lock; the lock is held elsewhere past the lock timeout, so the first attempt is
    rolled back and run again, and must find his staged copies once more."""
    app = create_app(dataclasses.replace(settings, database_lock_timeout=1))
    registry = TestRegistry(app)
    for name in ("alice", "bob"):
        registry.create_user(name)
    alice, bob = registry.token("alice"), registry.token("bob")
    assert registry.push(alice, "alice", "team", {"a.txt": b"alice"}, is_team=True)[0].status_code == 200
    contents, blobs = build_tree({"b.txt": b"bob's own bytes"})
    top_hash = registry.tophash(contents)
    url = f"/api/package/alice/team/{top_hash}"
    body = {"dry_run": True, "is_public": False, "is_team": False, "description": "", "contents": contents, "sizes": {}}
    for digest, urls in registry.api("PUT", url, token=bob, body=body, compress=True).get_json()["upload_urls"].items():
        assert registry.transfer("HEAD", urls["head"])[0] == 404
        assert registry.transfer("PUT", urls["put"], data=blobs[digest])[0] == 200
    body.update(dry_run=False, sizes={d: len(b) for d, b in blobs.items()})

    held, release = threading.Event(), threading.Event()

    def hold_for_a_while():
        with write_lock_held_elsewhere(settings.effective_database_url):
            held.set()
            release.wait(1.6)

    holder = threading.Thread(target=hold_for_a_while)
    holder.start()
    try:
        held.wait(10)
        pushed = registry.api("PUT", url, token=bob, body=body, compress=True)
    finally:
        release.set()
        holder.join()
    assert pushed.status_code == 200, pushed.get_json()
    installed = registry.api("GET", url, token=alice).get_json()
    (digest, data), = blobs.items()
    assert registry.download(installed["urls"][digest], len(data)) == data
    app.extensions["registry"].engine.dispose()
