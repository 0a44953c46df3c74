"""The metadata read path (tag and install GETs): the same bytes as before, fewer statements,
no COMMIT for a read, install events buffered per worker and never lost on a clean stop."""

from __future__ import annotations

import datetime as dt
import json
import time
import types

import pytest
from sqlalchemy import event, func, select

from registry import gunicorn_conf
from registry.api.json_output import compact_json, install_body, strings_json
from registry.db import epoch, utcnow
from registry.models import Access, Event, Instance, Package
from registry.services import events, trees
from registry.unit_of_work import has_writes
from tests.helpers import build_tree


def old_install_body(contents: bytes, rest: dict) -> bytes:
    """How the install body was written before (the bytes every client has received)."""
    return b'{"contents":' + contents + b"," + json.dumps(rest, separators=(",", ":")).encode()[1:]


STRANGE = ["plain", "", "é", "日本語", "emoji 🎉", "\x7f", "tab\tnew\nline\r", "\x00\x01\x1f", 'quote " and \\',
           "/slash/", "\u2028\u2029", "\ud800", "\udfff", "<script>", "a" * 300]


@pytest.mark.parametrize("value", [
    {},
    {"a" * 64: "http://localhost/blobs/alice/" + "a" * 64 + "?m=GET&e=1764641234&s=abc_-"},
    {text: text for text in STRANGE},
    {text: index for index, text in enumerate(STRANGE)},
    {"zero": 0, "big": 5 * 1024 ** 3, "max": 2 ** 63 - 1, "umax": 2 ** 64 - 1, "huge": 2 ** 64, "neg": -2 ** 63,
     "beyond": -2 ** 63 - 1},
    {"float": 1.5e-05, "tiny": 1e-07, "epoch": 1764641234.123456, "e16": 1e16, "nan": float("nan")},
    {"bool": True, "none": None, "nested": {"é": [1, 2.5, "x"]}},
    {1: "int key"},
    {"mixed": "x", "number": 1, "flag": False},
    {"name": "sales", "is_public": True, "is_team": False},
    {"a": {"x": True, "y": 1, "z": "é"}},
    {"a" * 64: {"head": "http://s3/objs/a?X-Amz-Signature=1", "put": "http://s3/uploads/a?x=%2B"}},
    {"a": {"x": "é"}, "b": {"y": "\x7f"}},
    {"a": {}, "b": {"x": "y"}},
    {"a": {"x": 1.5e-05}},
    {"a": {"x": 2 ** 64}},
    {"a": {"x": "y"}, "b": "not a dict"},
    {"a": {1: "int key"}},
    "just a string",
    "f" * 64,
    "é",
    "del \x7f",
    "lone \ud800 surrogate",
    "\"quoted\" \\ back",
    [1, 2, 3],
    1764641234.123456,
    None,
])
def test_compact_json_writes_what_json_dumps_writes(value):
    assert compact_json(value) == json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("value", [
    {"upload_urls": {"a" * 64: {"head": "http://s3/objs/a?X-Amz-Signature=1", "put": "http://s3/u?x=%2B"}}},
    {"package_url": "http://hôst/package/alice/p", "package_hash": "a" * 64},
    {"upload_urls": {"b" * 64: {"head": "http://x\x7f/objs", "put": "quote \" and \\ and \n\t\x01"}}},
    {"upload_urls": {}},
])
def test_push_answers_are_written_as_json_dumps_writes_them(value):
    assert strings_json(value) == json.dumps(value, separators=(",", ":")).encode()


def test_install_body_is_byte_for_byte_the_old_one():
    contents, _ = build_tree({"données/é.csv": b"x", "日本/ファイル": b"y", "a\x7fb": b"z"})
    raw = json.dumps(contents).encode()
    for base in ("http://localhost", "http://hôst:8000", "http://x\x7f"):
        urls = {h: f"{base}/blobs/alice/{h}?m=GET&e=1&s=sig" for h in ("a" * 64, "b" * 64)}
        rest = {"urls": urls, "sizes": {"a" * 64: 0, "b" * 64: 5 * 1024 ** 3}, "created_by": "alice",
                "created_at": 1764641234.123456, "updated_by": "bob", "updated_at": None}
        assert install_body(raw, rest) == old_install_body(raw, rest)


def test_a_dry_run_answers_what_jsonify_wrote(any_registry):
    """The published client parses the dry run's `upload_urls`; they go out as before, on both stores."""
    registry = any_registry
    registry.create_user("alice")
    token = registry.token("alice")
    contents, _ = build_tree({"a.csv": b"a", "données/é.bin": b"b", "c": b"c"})
    response = registry.api("PUT", f"/api/package/alice/dry/{registry.tophash(contents)}", token=token,
                            body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    assert response.status_code == 200 and response.mimetype == "application/json"
    parsed = json.loads(response.get_data())
    assert len(parsed["upload_urls"]) == 3
    assert response.get_data() == (json.dumps(parsed, separators=(",", ":")) + "\n").encode()


def statements(registry):
    """SQL statements the registry's engine runs, and its COMMITs."""
    seen = {"sql": [], "commits": 0}
    engine = registry.state.engine
    event.listen(engine, "before_cursor_execute", lambda *args: seen["sql"].append(args[2]))
    event.listen(engine, "commit", lambda *args: seen.__setitem__("commits", seen["commits"] + 1))
    return seen


@pytest.fixture
def public(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    files = {"README.md": "# Démo ✓\n".encode(), "données/tableau.csv": "a,b\n1,é\n".encode(),
             "日本/データ.bin": bytes(range(256)), "empty": b""}
    response, top_hash = registry.push(token, "alice", "demo", files, is_public=True)
    assert response.status_code == 200
    return registry, token, top_hash


def stored_tree(registry, top_hash) -> bytes:
    with registry.state.session_factory() as session:
        return trees.load(session, session.scalar(select(Instance.id).where(Instance.hash == top_hash)))


def test_install_sends_the_stored_tree_and_the_rest_as_json_dumps_wrote_them(public):
    registry, token, top_hash = public
    for auth in (None, token):
        body = registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=auth).get_data()
        parsed = json.loads(body)
        contents = parsed.pop("contents")
        assert list(parsed) == ["urls", "sizes", "created_by", "created_at", "updated_by", "updated_at"]
        assert body == old_install_body(stored_tree(registry, top_hash), parsed)
        assert contents == json.loads(stored_tree(registry, top_hash))


def test_tag_get_answers_as_before(public):
    registry, token, top_hash = public
    with registry.state.session_factory() as session:
        instance = session.scalar(select(Instance).where(Instance.hash == top_hash))
        expected = {"hash": top_hash, "created_by": "alice", "created_at": epoch(instance.created_at),
                    "updated_by": "alice", "updated_at": epoch(instance.updated_at), "is_public": True,
                    "is_team": False}
    for auth in (None, token):
        response = registry.api("GET", "/api/tag/alice/demo/latest", token=auth)
        assert response.status_code == 200
        # jsonify's bytes: key order, compact separators, a final newline
        assert response.get_data() == json.dumps(expected, separators=(",", ":")).encode() + b"\n"
    missing = registry.api("GET", "/api/tag/alice/demo/nope", token=token)
    assert (missing.status_code, missing.get_json()["message"]) == (404, "Tag 'nope' does not exist")


def test_private_and_missing_packages_answer_the_same_404(registry):
    for name in ("alice", "bob"):
        registry.create_user(name)
    alice, bob = registry.token("alice"), registry.token("bob")
    _, top_hash = registry.push(alice, "alice", "secret", {"a": b"a"})

    def answer(path, token):
        response = registry.api("GET", path, token=token)
        return response.status_code, response.get_json()["message"]

    for token, hint in ((bob, ""), (None, " (do you need to log in?)")):
        for package in ("secret", "missing"):
            assert answer(f"/api/tag/alice/{package}/latest", token) == (
                404, f"Package alice/{package} does not exist{hint}")
            assert answer(f"/api/package/alice/{package}/{top_hash}", token) == (404, "Package hash does not exist")
    assert registry.api("GET", "/api/tag/alice/secret/latest", token=alice).status_code == 200
    assert answer(f"/api/package/alice/secret/{top_hash} ", alice) == (404, "Package hash does not exist")


def test_team_packages_and_the_team_flag(registry):
    for name in ("alice", "bob"):
        registry.create_user(name)
    alice, bob = registry.token("alice"), registry.token("bob")
    _, top_hash = registry.push(alice, "alice", "shared", {"a": b"a"}, is_team=True)
    body = registry.api("GET", "/api/tag/alice/shared/latest", token=bob).get_json()
    assert (body["hash"], body["is_public"], body["is_team"]) == (top_hash, False, True)
    assert registry.api("GET", f"/api/package/alice/shared/{top_hash}", token=bob).status_code == 200
    assert registry.api("GET", "/api/tag/alice/shared/latest").status_code == 404


def test_a_read_is_one_statement_and_no_commit(public):
    registry, token, top_hash = public
    registry.api("GET", f"/api/package/alice/demo/{top_hash}")  # fills the instance cache
    seen = statements(registry)
    assert registry.api("GET", "/api/tag/alice/demo/latest").status_code == 200
    assert (len(seen["sql"]), seen["commits"]) == (1, 0)
    seen["sql"].clear()
    assert registry.api("GET", "/api/tag/alice/demo/latest", token=token).status_code == 200
    assert (len(seen["sql"]), seen["commits"]) == (2, 0)  # the token's check, then the answer
    seen["sql"].clear()
    # Without a running event buffer (the test client) the install event is a row of the GET's
    # own transaction, so that GET commits; the tree and sizes come from the instance cache.
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}").status_code == 200
    assert [sql.split()[0] for sql in seen["sql"]] == ["SELECT", "INSERT"] and seen["commits"] == 1
    # A write still commits.
    seen["sql"].clear()
    seen["commits"] = 0
    assert registry.api("PUT", "/api/tag/alice/demo/stable", token=token, body={"hash": top_hash}).status_code == 200
    assert seen["commits"] == 1


def test_has_writes_sees_pending_objects_and_statements(registry):
    registry.create_user("alice")
    with registry.state.session_factory() as session:
        assert not has_writes(session)
        session.execute(select(func.count(Package.id)))
        assert not has_writes(session)
        session.add(Event(user="alice", type="INSTALL", package_owner="a", package_name="b"))
        assert has_writes(session)
        session.flush()
        assert has_writes(session)  # flushed, but not committed
        session.rollback()
        session.close()
    with registry.state.session_factory() as session:
        session.execute(Package.__table__.update().where(Package.id == -1).values(name="x"))
        assert has_writes(session)


def test_revoked_access_is_not_cached(public):
    registry, token, top_hash = public
    path = f"/api/package/alice/demo/{top_hash}"
    assert registry.api("GET", path).status_code == 200
    assert registry.api("DELETE", "/api/access/alice/demo/public", token=token).status_code == 200
    assert registry.api("GET", path).get_json()["message"] == "Package hash does not exist"
    assert registry.api("GET", "/api/tag/alice/demo/latest").status_code == 404
    assert registry.api("GET", path, token=token).status_code == 200


def test_a_package_pushed_again_after_deletion_is_read_afresh(public):
    registry, token, top_hash = public
    path = f"/api/package/alice/demo/{top_hash}"
    first = registry.api("GET", path, token=token).get_json()
    assert registry.api("DELETE", "/api/package/alice/demo/", token=token).status_code == 200
    assert registry.api("GET", path, token=token).status_code == 404
    response, again = registry.push(token, "alice", "demo", {"other": b"bytes"}, is_public=True)
    assert response.status_code == 200 and again != top_hash
    second = registry.api("GET", f"/api/package/alice/demo/{again}", token=token).get_json()
    assert set(second["sizes"]) != set(first["sizes"])


def test_subpath_installs_narrow_the_sizes_with_the_cache_filled(public):
    registry, token, top_hash = public
    whole = registry.api("GET", f"/api/package/alice/demo/{top_hash}").get_json()
    sub = registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=données").get_json()
    assert len(sub["sizes"]) == 1 and set(sub["sizes"]) < set(whole["sizes"])
    again = registry.api("GET", f"/api/package/alice/demo/{top_hash}").get_json()
    assert again == whole | {"urls": again["urls"]}  # URLs carry a fresh expiry


# Buffered install events


def install_events(registry) -> list[tuple]:
    with registry.state.session_factory() as session:
        return session.execute(select(Event.user, Event.package_hash, Event.extra, Event.created_at)
                               .where(Event.type == events.INSTALL).order_by(Event.id)).all()


@pytest.fixture
def buffered(public):
    registry, token, top_hash = public
    buffer = events.start_buffering(registry.app)
    buffer.flush_seconds = 60  # only explicit flushes and stops write, unless a test says otherwise
    yield registry, token, top_hash, buffer
    events.stop_buffering(registry.app)


def test_buffered_install_events_are_written_in_bulk_later(buffered):
    registry, token, top_hash, buffer = buffered
    seen = statements(registry)
    started = utcnow()
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token).status_code == 200
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=données").status_code == 200
    assert seen["commits"] == 0 and not any(sql.startswith("INSERT") for sql in seen["sql"])
    assert install_events(registry) == [] and buffer.pending() == 2
    assert buffer.flush() == 2
    rows = install_events(registry)
    assert [(user, h, json.loads(extra)) for user, h, extra, _ in rows] == [
        ("alice", top_hash, {"subpath": None}), (None, top_hash, {"subpath": "données"})]
    assert all(started - dt.timedelta(seconds=1) <= created <= utcnow() for *_, created in rows)  # the request's time


def test_failed_installs_record_nothing(buffered):
    registry, token, top_hash, buffer = buffered
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=nope").status_code == 404
    assert registry.api("GET", f"/api/package/alice/demo/{'0' * 64}").status_code == 404
    assert buffer.pending() == 0


def test_the_writer_thread_writes_within_its_interval(buffered):
    registry, token, top_hash, buffer = buffered
    buffer.flush_seconds = 0.2
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}").status_code == 200
    deadline = time.monotonic() + 10
    while not install_events(registry) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(install_events(registry)) == 1 and buffer.pending() == 0


def test_many_events_are_written_without_waiting_for_the_interval(buffered):
    registry, token, top_hash, buffer = buffered
    buffer.flush_events = 3
    for _ in range(3):
        registry.api("GET", f"/api/package/alice/demo/{top_hash}")
    deadline = time.monotonic() + 10
    while len(install_events(registry)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(install_events(registry)) == 3


def test_a_clean_stop_writes_what_waits(public):
    registry, token, top_hash = public
    worker = types.SimpleNamespace(wsgi=registry.app)
    gunicorn_conf.post_worker_init(worker)
    buffer = events.event_buffer(registry.app)
    assert buffer is not None and buffer.running
    buffer.flush_seconds = 60
    for _ in range(5):
        registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token)
    assert install_events(registry) == [] and buffer.pending() == 5
    gunicorn_conf.worker_exit(None, worker)
    assert len(install_events(registry)) == 5
    assert events.event_buffer(registry.app) is None and not buffer.running
    # Stopped: a late event (a request still finishing) is written at once.
    buffer.add([{"created_at": utcnow(), "user": None, "type": events.INSTALL, "package_owner": "alice",
                 "package_name": "demo", "package_hash": top_hash, "extra": None}])
    assert len(install_events(registry)) == 6


def test_events_wait_while_the_database_refuses_them(buffered):
    registry, token, top_hash, buffer = buffered
    real_write = buffer._write
    failures = []

    def failing(rows):
        failures.append(len(rows))
        raise RuntimeError("database away")

    buffer._write = failing
    registry.api("GET", f"/api/package/alice/demo/{top_hash}")
    registry.api("GET", f"/api/package/alice/demo/{top_hash}")
    with pytest.raises(RuntimeError):
        buffer.flush()
    assert failures == [2] and buffer.pending() == 2
    buffer.max_pending = 1
    registry.api("GET", f"/api/package/alice/demo/{top_hash}")
    with pytest.raises(RuntimeError):
        buffer.flush()
    assert buffer.pending() == 1  # the oldest went, counted in registry_events_dropped_total
    buffer._write = real_write
    assert buffer.flush() == 1 and len(install_events(registry)) == 1


def test_previews_are_buffered_too_and_pushes_are_not(buffered):
    registry, token, top_hash, buffer = buffered
    assert registry.api("GET", f"/api/package_preview/alice/demo/{top_hash}").status_code == 200
    assert buffer.pending() == 1
    registry.push(token, "alice", "demo", {"new": b"new"})
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.type == events.PUSH)) == 2
    buffer.flush()
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.type == events.PREVIEW)) == 1


def test_access_rows_decide_readability_not_the_cache(public):
    """The instance cache keeps trees and sizes only: sharing changes take effect at once."""
    registry, token, top_hash = public
    with registry.state.session_factory() as session:
        package_id = session.scalar(select(Package.id).where(Package.name == "demo"))
        session.execute(Access.__table__.delete().where(Access.package_id == package_id, Access.principal == "public"))
        session.commit()
    assert registry.api("GET", f"/api/package/alice/demo/{top_hash}").status_code == 404
