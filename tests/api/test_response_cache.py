"""The response cache (registry.api.response_cache) over the read cache (registry.read_cache):
a repeated metadata GET is answered without running its view, yet every committed write, from
this process or any other, is seen by the next request; answers stay per caller, within the
time limit and the token's life, and bounded in size. On each database, with the write
generation in a shared file (`host`) and in a real Redis."""

from __future__ import annotations

import logging
import secrets
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from registry import Settings, create_app, metrics, request_log
from registry.api import response_cache
from registry.models import Event
from registry.read_cache import RedisGeneration
from registry.runtime import Runtime
from registry.services import events, users
from tests.helpers import TestRegistry

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["host", "redis"])
def place(request) -> str:
    return REDIS_URL if request.param == "redis" else "host"


@pytest.fixture
def cached_settings(settings, place) -> Settings:
    # A secret of its own: the Redis key is named after it, so no other test's writes renew it.
    return Settings(**{**settings.__dict__, "read_cache": place, "secret_key": secrets.token_urlsafe(48)})


@pytest.fixture
def make_registry(cached_settings):
    """Registries (each its own process, as far as caches go) on the test's settings."""
    made = []

    def make(**overrides) -> TestRegistry:
        app = create_app(Settings(**{**cached_settings.__dict__, **overrides}))
        made.append(app)
        return TestRegistry(app)

    yield make
    for app in made:
        runtime = app.extensions["registry"]
        generation = getattr(runtime.read_cache, "generation", None)
        if isinstance(generation, RedisGeneration):
            generation.forget()
        events.stop_buffering(app)
        runtime.engine.dispose()


def count_runs(registry: TestRegistry, endpoint: str) -> list:
    """Wraps the view of `endpoint`: the list grows by one each time the view itself runs."""
    runs = []
    view = registry.app.view_functions[endpoint]

    def counted(*args, **kwargs):
        runs.append(1)
        return view(*args, **kwargs)
    registry.app.view_functions[endpoint] = counted
    return runs


def published(registry: TestRegistry, files=None, *, public=True):
    registry.create_user("alice")
    token = registry.token("alice")
    response, top_hash = registry.push(token, "alice", "demo", files or {"a.txt": b"one"}, is_public=public)
    assert response.status_code == 200
    return token, top_hash


TAG = "/api/tag/alice/demo/latest"


def test_a_repeated_get_is_replayed_with_its_own_request_id(make_registry):
    registry = make_registry()
    token, top_hash = published(registry)
    runs = count_runs(registry, "tags.get_tag")
    first = registry.client.get(TAG)
    second = registry.client.get(TAG)
    third = registry.client.get(TAG, headers={"X-Request-ID": "trace-42"})
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.get_json()["hash"] == top_hash
    assert first.data == second.data == third.data
    assert first.headers["Content-Type"] == second.headers["Content-Type"] == "application/json"
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert third.headers["X-Request-ID"] == "trace-42"
    assert len(runs) == 1


def test_a_replayed_get_is_logged_and_counted(make_registry):
    registry = make_registry()
    published(registry)
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.fields)
    request_log.log.addHandler(handler)
    try:
        before = metrics.REQUESTS.labels("tags.get_tag", "GET", "200")._value.get()
        registry.client.get(TAG)
        registry.client.get(TAG)
        after = metrics.REQUESTS.labels("tags.get_tag", "GET", "200")._value.get()
    finally:
        request_log.log.removeHandler(handler)
    assert after - before == 2
    assert [(f["endpoint"], f["status"], f["path"], f["method"]) for f in lines] == [("tags.get_tag", 200, TAG, "GET")] * 2
    assert lines[0]["request_id"] != lines[1]["request_id"]


def test_every_write_is_seen_by_the_next_get(make_registry):
    registry = make_registry()
    token, first_hash = published(registry)
    assert registry.client.get(TAG).get_json()["hash"] == first_hash
    response, second_hash = registry.push(token, "alice", "demo", {"a.txt": b"two"}, is_public=True)
    assert response.status_code == 200
    assert registry.client.get(TAG).get_json()["hash"] == second_hash
    moved = registry.api("PUT", TAG, token=token, body={"hash": first_hash})
    assert moved.status_code == 200
    assert registry.client.get(TAG).get_json()["hash"] == first_hash


def test_revoked_access_tokens_and_accounts_are_seen_at_once(make_registry, cached_settings):
    registry = make_registry()
    token, top_hash = published(registry)
    registry.create_user("bob")
    bob = registry.token("bob")
    install = f"/api/package/alice/demo/{top_hash}"
    assert registry.client.get(TAG).status_code == 200
    assert registry.api("GET", install, token=bob).status_code == 200
    # The package stops being public: anonymous callers and bob lose it.
    assert registry.api("DELETE", "/api/access/alice/demo/public", token=token).status_code == 200
    assert registry.client.get(TAG).status_code == 404
    assert registry.api("GET", install, token=bob).status_code == 404
    # Shared with bob again, then bob's account is disabled by another process (the admin CLI).
    assert registry.api("PUT", "/api/access/alice/demo/bob", token=token).status_code == 200
    assert registry.api("GET", install, token=bob).status_code == 200
    console = Runtime(cached_settings)
    try:
        with console.session_factory() as session:
            users.get_user(session, "bob").is_active = False
            session.commit()
    finally:
        console.close()
    assert registry.api("GET", install, token=bob).status_code == 403
    # Logging out ends the token at once, cached answer or not.
    assert registry.client.get(TAG, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert registry.api("POST", "/api/logout", token=token).status_code == 200
    assert registry.client.get(TAG, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_answers_are_kept_per_caller(make_registry):
    registry = make_registry()
    token, _ = published(registry, public=False)
    registry.create_user("bob")
    bob = registry.token("bob")
    runs = count_runs(registry, "tags.get_tag")
    for _ in range(2):
        assert registry.api("GET", TAG, token=token).status_code == 200
        assert registry.client.get(TAG).status_code == 404
        assert registry.api("GET", TAG, token=bob).status_code == 404
    # The owner's answer was kept once; the refusals are never kept.
    assert len(runs) == 5


def test_cors_answers_are_kept_per_origin(make_registry):
    registry = make_registry()
    published(registry)
    plain = registry.client.get(TAG)
    a = registry.client.get(TAG, headers={"Origin": "https://a.example"})
    b = registry.client.get(TAG, headers={"Origin": "https://b.example"})
    again = registry.client.get(TAG, headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert a.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert b.headers["Access-Control-Allow-Origin"] == again.headers["Access-Control-Allow-Origin"] == "https://b.example"


def test_replayed_installs_record_their_events(make_registry):
    registry = make_registry()
    token, top_hash = published(registry)
    events.start_buffering(registry.app)
    runs = count_runs(registry, "packages.install")
    install = f"/api/package/alice/demo/{top_hash}"
    answers = [registry.api("GET", install, token=token) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].data == answers[2].data
    assert len(runs) == 1
    events.stop_buffering(registry.app)  # writes what is buffered
    with registry.state.session_factory() as session:
        installs = session.scalars(select(Event).where(Event.type == "INSTALL")).all()
    assert len(installs) == 3 and {e.user for e in installs} == {"alice"} and {e.package_hash for e in installs} == {top_hash}


def test_without_an_event_buffer_installs_are_not_replayed(make_registry):
    """The test client has no buffer: each install writes its event in its own transaction, so
    each one runs (a replay could not write the event)."""
    registry = make_registry()
    token, top_hash = published(registry)
    runs = count_runs(registry, "packages.install")
    for _ in range(3):
        assert registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token).status_code == 200
    assert len(runs) == 3
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.type == "INSTALL")) == 3


def test_an_answer_lasts_no_longer_than_its_token(make_registry, monkeypatch):
    registry = make_registry(access_token_seconds=60)
    token, _ = published(registry)
    runs = count_runs(registry, "tags.get_tag")
    headers = {"Authorization": f"Bearer {token}"}
    registry.client.get(TAG, headers=headers)
    registry.client.get(TAG, headers=headers)
    assert len(runs) == 1
    real_time = time.time
    monkeypatch.setattr(response_cache.time, "time", lambda: real_time() + 61)
    registry.client.get(TAG, headers=headers)
    assert len(runs) == 2


def test_writes_made_outside_the_registry_show_within_the_time_limit(make_registry, cached_settings):
    registry = make_registry(read_cache_seconds=1)
    token, first_hash = published(registry)
    response, second_hash = registry.push(token, "alice", "demo", {"a.txt": b"two"}, is_public=True)
    assert registry.client.get(TAG).get_json()["hash"] == second_hash
    # SQL typed into the database: no generation is renewed.
    outside = create_engine(cached_settings.effective_database_url)
    try:
        with outside.begin() as connection:
            connection.execute(text("UPDATE tag SET instance_id = (SELECT id FROM instance WHERE hash = :h) "
                                    "WHERE name = 'latest'"), {"h": first_hash})
    finally:
        outside.dispose()
    assert registry.client.get(TAG).get_json()["hash"] == second_hash  # kept, within its second
    time.sleep(1.1)
    assert registry.client.get(TAG).get_json()["hash"] == first_hash


def test_a_write_in_one_process_is_seen_by_the_others(make_registry):
    """Two registries on one database and one generation: two workers, or two hosts."""
    one, two = make_registry(), make_registry()
    token, first_hash = published(one)
    assert two.client.get(TAG).get_json()["hash"] == first_hash
    assert two.client.get(TAG).get_json()["hash"] == first_hash
    response, second_hash = one.push(token, "alice", "demo", {"a.txt": b"two"}, is_public=True)
    assert response.status_code == 200
    assert two.client.get(TAG).get_json()["hash"] == second_hash


def test_only_plain_api_gets_are_kept(make_registry):
    registry = make_registry()
    published(registry)
    runs = count_runs(registry, "tags.get_tag")
    registry.client.get(TAG, data=b"{}", headers={"Content-Type": "application/json"})
    registry.client.get(TAG, data=b"{}", headers={"Content-Type": "application/json"})
    registry.client.head(TAG)
    registry.client.head(TAG)
    assert len(runs) == 4


def test_big_answers_are_not_kept_and_the_cache_is_bounded(make_registry, monkeypatch):
    registry = make_registry()
    published(registry)
    runs = count_runs(registry, "tags.get_tag")
    monkeypatch.setattr(response_cache, "MAX_BODY_BYTES", 10)
    registry.client.get(TAG)
    registry.client.get(TAG)
    assert len(runs) == 2
    monkeypatch.setattr(response_cache, "MAX_BODY_BYTES", 10_000)
    size = len(registry.client.get(TAG).data)
    monkeypatch.setattr(response_cache, "MAX_BYTES", 5 * size)
    cache = registry.app.wsgi_app
    assert isinstance(cache, response_cache.ResponseCache)
    for number in range(50):  # each query string is a key of its own
        assert registry.client.get(f"{TAG}?n={number}").status_code == 200
        assert cache._bytes <= 5 * size and len(cache._entries) <= 5


def test_without_a_reachable_generation_nothing_is_kept(make_registry):
    registry = make_registry(read_cache="redis://127.0.0.1:1/0")  # nothing listens on port 1
    published(registry)
    runs = count_runs(registry, "tags.get_tag")
    assert [registry.client.get(TAG).status_code for _ in range(3)] == [200, 200, 200]
    assert len(runs) == 3


def test_caching_off(make_registry):
    registry = make_registry(read_cache="off")
    published(registry)
    runs = count_runs(registry, "tags.get_tag")
    registry.client.get(TAG)
    registry.client.get(TAG)
    assert registry.state.read_cache is None and len(runs) == 2
