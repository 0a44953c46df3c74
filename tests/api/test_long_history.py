"""A package's log and comments, however long: `GET /api/log/` and `GET /api/comments/` send
all of them, in order and byte for byte as before, reading a batch of rows at a time
(services.keyset); the package page reads only the newest pushes.

Every push adds a row to the log, even of an instance pushed before, so an owner can grow a
public package's log with cheap pushes (each with up to 10,000 characters of message), and
anyone signed in may comment (10 KiB a comment) on any package they can read; anyone may then
read them. Measured in benchmarks/package_history.py."""

from __future__ import annotations

import datetime as dt
import re
import tracemalloc

import pytest
from flask import jsonify
from sqlalchemy import select

from registry.api import json_output
from registry.api.contract import dump
from registry.db import epoch
from registry.models import Comment, Instance, Log, Package, Tag, Version
from registry.schemas import responses
from registry.services import keyset
from tests.helpers import query_plans, recorded_statements

MESSAGES = ["first", None, "ünïcödé ✓ 🙂", "del \x7f and \u2028", "\"quoted\" \\ back", "x" * 10_000]


@pytest.fixture
def long_log(registry):
    """alice/demo, public, two instances (v1 tagged `stable` and versioned 1.0), and a log of 43
    entries; ten share one timestamp, so the log's order has to fall back on ids."""
    registry.create_user("alice")
    token = registry.token("alice")
    _, first = registry.push(token, "alice", "demo", {"a": b"one"}, is_public=True)
    _, second = registry.push(token, "alice", "demo", {"a": b"two"}, is_public=True)
    registry.api("PUT", "/api/tag/alice/demo/stable", token=token, body={"hash": first})
    registry.api("PUT", "/api/version/alice/demo/1.0", token=token, body={"hash": first})
    with registry.state.session_factory() as session:
        package_id = session.scalar(select(Package.id).where(Package.name == "demo"))
        ids = dict(session.execute(select(Instance.hash, Instance.id)).all())
        start, same = dt.datetime(2026, 1, 1), dt.datetime(2026, 6, 1, 12, 0, 0, 123456)
        for number in range(41):
            created = same if 10 <= number < 20 else start + dt.timedelta(hours=number)
            session.add(Log(package_id=package_id, instance_id=ids[(first, second)[number % 2]], created_at=created,
                            author="alice", message=MESSAGES[number % len(MESSAGES)]))
        session.commit()
    return registry, package_id


def analyzed(registry, tables: str):
    """The registry's engine, once MariaDB's statistics of `tables` are up to date."""
    engine = registry.state.engine
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql(f"ANALYZE TABLE {tables}")
    return engine


def expected_log(registry, package_id: int) -> bytes:
    """What the registry answered before the log was streamed: every row, joined to its
    instance and sorted, annotated with all of the package's tags and versions, through the
    response schema and `jsonify`."""
    with registry.state.session_factory() as session:
        rows = session.execute(select(Log.instance_id, Instance.hash, Log.created_at, Log.author, Log.message)
                               .join(Instance, Instance.id == Log.instance_id)
                               .where(Log.package_id == package_id).order_by(Log.created_at, Log.id)).all()
        tags, versions = {}, {}
        for instance_id, name in session.execute(select(Tag.instance_id, Tag.name).order_by(Tag.name)):
            tags.setdefault(instance_id, []).append(name)
        for instance_id, version in session.execute(select(Version.instance_id, Version.version)):
            versions.setdefault(instance_id, []).append(version)
    entries = [{"hash": hash_, "created": epoch(created), "author": author, "message": message,
                "tags": tags.get(instance_id), "versions": versions.get(instance_id)}
               for instance_id, hash_, created, author, message in rows]
    with registry.app.test_request_context():
        return jsonify(dump(responses.Log, {"logs": entries})).get_data()


@pytest.mark.parametrize("batch_rows", [1, 4, 10, 1_000])
def test_the_whole_log_is_sent_as_before_however_it_is_read(long_log, monkeypatch, batch_rows):
    registry, package_id = long_log
    monkeypatch.setattr(keyset, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(json_output, "CHUNK_BYTES", 100)
    response = registry.client.get("/api/log/alice/demo/")
    assert response.status_code == 200 and "Content-Length" not in response.headers  # sent as it is read
    body = response.get_data()
    assert body == expected_log(registry, package_id)
    logs = response.get_json()["logs"]
    assert len(logs) == 43 and [entry["created"] for entry in logs] == sorted(entry["created"] for entry in logs)
    assert logs[0]["tags"] == ["stable"] and logs[0]["versions"] == ["1.0"] and logs[1]["tags"] == ["latest"]


def test_a_log_the_caller_may_not_read_is_a_404_not_a_stream(long_log):
    registry, _ = long_log
    registry.api("DELETE", "/api/access/alice/demo/public", token=registry.token("alice"))
    response = registry.client.get("/api/log/alice/demo/")
    assert response.status_code == 404 and response.headers["Content-Length"] == str(len(response.get_data()))
    assert response.get_json()["message"].startswith("Package alice/demo does not exist")


@pytest.mark.parametrize("batch_rows", [1, 4, 1_000])
def test_every_comment_is_sent_as_before_however_they_are_read(long_log, monkeypatch, batch_rows):
    registry, package_id = long_log
    registry.create_user("bob")
    for number in range(3):
        added = registry.api("POST", "/api/comments/alice/demo/", token=registry.token("bob"),
                             body={"contents": f"comment {number} ✓"})
        assert added.status_code == 200
    with registry.state.session_factory() as session:  # nine more at one time: ids decide
        same = dt.datetime(2026, 3, 1, 8, 30)
        session.add_all(Comment(package_id=package_id, author="bob", created_at=same,
                                contents=MESSAGES[number % len(MESSAGES)] or "none") for number in range(9))
        session.commit()
        stored = session.scalars(select(Comment).where(Comment.package_id == package_id)
                                 .order_by(Comment.created_at, Comment.id)).all()
        expected = [{"id": f"{c.id:016x}", "author": c.author, "created": epoch(c.created_at),
                     "contents": c.contents} for c in stored]
    monkeypatch.setattr(keyset, "BATCH_ROWS", batch_rows)
    response = registry.client.get("/api/comments/alice/demo/")
    assert response.status_code == 200 and "Content-Length" not in response.headers
    body = response.get_data()  # taken whole first: the stream holds its own request context
    with registry.app.test_request_context():
        assert body == jsonify(dump(responses.CommentList, {"comments": expected})).get_data()
    assert [c["contents"] for c in response.get_json()["comments"]][-3:] == [f"comment {n} ✓" for n in range(3)]


@pytest.mark.parametrize("listed", ["log", "comments"])
def test_a_long_list_is_never_held_whole(registry, monkeypatch, listed):
    """2,000 pushes or comments of 10,000 characters each: 20 MB of JSON, sent while Python
    holds a few hundred KB of it (before: all of it, three times over)."""
    registry.create_user("alice")
    _, top_hash = registry.push(registry.token("alice"), "alice", "demo", {"a": b"one"}, is_public=True)
    with registry.state.session_factory() as session:
        package_id, instance_id = session.execute(select(Instance.package_id, Instance.id)
                                                  .where(Instance.hash == top_hash)).one()
        for _ in range(4):
            session.add_all(Log(package_id=package_id, instance_id=instance_id, author="alice", message="m" * 10_000)
                            if listed == "log" else
                            Comment(package_id=package_id, author="alice", contents="c" * 10_000)
                            for _ in range(500))
            session.flush()
        session.commit()
    monkeypatch.setattr(keyset, "BATCH_ROWS", 20)
    tracemalloc.start()
    try:
        response = registry.client.get(f"/api/{listed}/alice/demo/", buffered=False)
        sent = sum(len(piece) for piece in response.response)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200 and sent > 2_000 * 10_000
    assert peak < 2 * 2 ** 20, f"{peak:,} bytes held to send {sent:,}"


def test_the_page_reads_the_newest_pushes_through_the_index(long_log):
    """The page shows the newest 100 pushes; they are the last steps of the index (package_id,
    created_at, id), read without the others. The whole log walks the same index, unsorted."""
    registry, package_id = long_log
    _, other = registry.push(registry.token("alice"), "alice", "other", {"b": b"other"})
    with registry.state.session_factory() as session:  # 300 more pushes of one instance; 3,000 of another package
        instance_id = session.scalar(select(Instance.id).where(Instance.package_id == package_id).limit(1))
        session.add_all(Log(package_id=package_id, instance_id=instance_id, author="alice", message=f"push {n}")
                        for n in range(300))
        other_package, other_id = session.execute(select(Instance.package_id, Instance.id)
                                                  .where(Instance.hash == other)).one()
        session.add_all(Log(package_id=other_package, instance_id=other_id, author="alice") for _ in range(3_000))
        session.commit()
    engine = analyzed(registry, "log, instance")
    with recorded_statements(engine) as recorded:
        page = registry.client.get("/package/alice/demo")
        assert registry.client.get("/api/log/alice/demo/").status_code == 200
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "push 299" in text and "push 200" in text and "push 199" not in text
    assert "The newest 100 pushes." in text
    seen = [(statement, parameters) for statement, parameters in recorded if "FROM log" in statement]
    assert len(seen) == 2
    for plan in query_plans(engine, seen):
        if engine.dialect.name == "sqlite":
            assert plan == ["SEARCH log USING INDEX ix_log_package_id_created_at (package_id=?)"], plan
        else:
            assert [(row["table"], row["key"], "filesort" in (row["Extra"] or "")) for row in plan] == [
                ("log", "ix_log_package_id_created_at", False)], plan


def test_the_page_shows_the_first_tags_and_the_newest_versions_through_their_keys(long_log):
    """A package may have any number of tags and versions (one request each). The page shows
    the first 100 tags by name and the 100 versions named last, in PEP 440 order, and labels its
    pushes with those; each list is one walk of a key, however many there are."""
    registry, package_id = long_log
    with registry.state.session_factory() as session:
        first_id, second_id = session.scalars(select(Instance.id).where(Instance.package_id == package_id)
                                              .order_by(Instance.id)).all()
        start = dt.datetime(2026, 2, 1)
        session.add_all(Tag(package_id=package_id, name=f"t{number:03}", instance_id=second_id, updated_by="alice")
                        for number in range(150))
        session.add_all(Version(package_id=package_id, version=f"2.{number}", user_version=f"v2.{number}",
                                instance_id=first_id, created_by="alice",
                                created_at=start + dt.timedelta(minutes=number)) for number in range(150))
        session.commit()
    engine = analyzed(registry, "tag, version")
    with recorded_statements(engine) as recorded:
        page = registry.client.get("/package/alice/demo")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    # Tags: "latest", "stable" and t000 to t149 sort as latest, stable, t000...: the first 100 by name.
    assert "?tag=latest" in text and "?tag=t097" in text and "?tag=t098" not in text
    assert "The first 100 by name." in text
    # Versions: v2.0 to v2.149, named a minute apart in February, and 1.0 named today: the 100
    # named last are 1.0 and v2.51 to v2.149, shown highest first.
    shown = re.findall(r"\?version=([v0-9.]+)\"", text)
    assert shown == [f"v2.{number}" for number in range(149, 50, -1)] + ["1.0"]
    assert "The 100 named last." in text
    # The pushes carry the labels shown: the second instance's 98 tags, not the 50 unshown.
    assert '<span class="tag-label">t098</span>' not in text and '<span class="tag-label">t097</span>' in text
    seen = [(statement, parameters) for statement, parameters in recorded
            if "FROM tag" in statement or "FROM version" in statement]
    assert len(seen) == 2
    for plan in query_plans(engine, seen):
        if engine.dialect.name == "sqlite":
            assert len(plan) == 1 and plan[0].startswith("SEARCH ") and "TEMP B-TREE" not in plan[0], plan
        else:
            assert [("filesort" in (row["Extra"] or ""), row["type"]) for row in plan] == [(False, "ref")], plan
