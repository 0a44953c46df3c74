"""registry.read_cache: the write generation (renewed by every COMMIT that wrote, in any process,
never by reads or by the event log), where it lives (a shared file, Redis), and the kept answers
of a request's reads."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, select, text

from registry import read_cache
from registry.models import Event, Package
from registry.read_cache import CachedReads, HostGeneration, ReadCache, RedisGeneration, watch_commits
from registry.runtime import Runtime
from registry.services import events, users
from registry.services.throttle import DatabaseCounters

REDIS_URL = "redis://127.0.0.1:6379/0"


class Recorder:
    def __init__(self):
        self.value, self.bumps = b"g0", 0

    def current(self):
        return self.value

    def bump(self):
        self.bumps += 1
        self.value = b"g%d" % self.bumps


@pytest.fixture
def runtime(settings):
    runtime = Runtime(settings)
    recorder = Recorder()
    watch_commits(runtime.engine, recorder.bump)  # the runtime's own hook is there too, and harmless
    runtime.recorder = recorder
    yield runtime
    runtime.close()


def test_only_commits_that_wrote_renew_the_generation(runtime):
    recorder = runtime.recorder
    with runtime.session_factory() as session:
        session.execute(select(Package.id)).all()
        session.commit()
    assert recorder.bumps == 0
    with runtime.session_factory() as session:
        users.create_user(session, "alice")
        assert recorder.bumps == 0  # not before the COMMIT
        session.commit()
    assert recorder.bumps == 1
    with runtime.session_factory() as session:
        users.create_user(session, "bob")
        session.rollback()
    assert recorder.bumps == 1


def test_the_event_log_keeps_the_generation(runtime):
    with read_cache.unseen_by_cached_reads(), runtime.engine.begin() as connection:
        connection.execute(Event.__table__.insert(), [{"type": "INSTALL", "package_owner": "a", "package_name": "b"}])
    assert runtime.recorder.bumps == 0
    with runtime.engine.begin() as connection:  # the same statement outside the block does renew it
        connection.execute(Event.__table__.insert(), [{"type": "INSTALL", "package_owner": "a", "package_name": "b"}])
    assert runtime.recorder.bumps == 1


def test_throttling_counters_and_account_events_keep_the_generation(runtime):
    """Any client can make the registry write these (failed sign-ins): they must not empty every
    worker's cache."""
    counters = DatabaseCounters(runtime.engine)
    counters.add(["some-key"], 60)
    counters.give_back(["some-key"])
    events.record_account_event(runtime.engine, events.LOGIN_FAILED, "nobody", {"address": "192.0.2.1"})
    assert runtime.recorder.bumps == 0
    with runtime.engine.connect() as connection:
        assert connection.execute(select(Event.type)).scalars().all() == [events.LOGIN_FAILED]


def test_kept_answers_last_while_the_generation_does(runtime):
    recorder = runtime.recorder
    cache = ReadCache(recorder, seconds=60)
    statement = text("SELECT count(*) FROM package")
    with runtime.session_factory() as session:
        first = cache.reads().first(session, "count", statement, {})
        session.execute(Package.__table__.insert().values(owner="alice", name="one", folded_handle="alice/one"))
        session.commit()  # renews the generation
        # A request begun before the write (its generation read then) keeps its view...
        stale_view = CachedReads(cache, b"g0")
        assert stale_view.first(session, "count", statement, {}) == first
        # ... every later request reads anew.
        assert cache.reads().first(session, "count", statement, {})[0] == first[0] + 1


def test_kept_answers_expire(runtime, settings, monkeypatch):
    cache = ReadCache(runtime.recorder, seconds=5)
    statement = text("SELECT count(*) FROM package")
    with runtime.session_factory() as session:
        first = cache.reads().first(session, "count", statement, {})
        outside = create_engine(settings.effective_database_url)  # SQL typed into the database
        try:
            with outside.begin() as connection:
                connection.execute(Package.__table__.insert().values(owner="alice", name="x", folded_handle="alice/x"))
        finally:
            outside.dispose()
        assert runtime.recorder.bumps == 0
        assert cache.reads().first(session, "count", statement, {}) == first
        now = read_cache.time.monotonic()
        monkeypatch.setattr(read_cache.time, "monotonic", lambda: now + 6)
        assert cache.reads().first(session, "count", statement, {})[0] == first[0] + 1


def test_the_number_of_kept_answers_is_bounded(runtime, monkeypatch):
    monkeypatch.setattr(read_cache, "MAX_ENTRIES", 10)
    cache = ReadCache(runtime.recorder, seconds=60)
    with runtime.session_factory() as session:
        for number in range(100):
            cache.reads().first(session, "n", text("SELECT :n"), {"n": number})
            assert len(cache._entries) <= 10


def test_a_host_generation_is_shared_by_its_processes(tmp_path):
    one, two = HostGeneration(tmp_path / "generation"), HostGeneration(tmp_path / "generation")
    before = two.current()
    one.bump()
    assert two.current() != before and two.current() == one.current()


def test_a_redis_generation_is_shared_and_never_comes_back():
    secret = secrets.token_urlsafe(48)
    one, two = RedisGeneration(REDIS_URL, secret), RedisGeneration(REDIS_URL, secret)
    other_registry = RedisGeneration(REDIS_URL, secrets.token_urlsafe(48))
    try:
        first = one.current()
        assert first is not None and two.current() == first
        unrelated = other_registry.current()
        one.bump()
        assert two.current() not in (first, None) and other_registry.current() == unrelated
        seen = {first, two.current()}
        one.forget()  # a Redis that restarted empty
        assert two.current() not in seen
    finally:
        for generation in (one, other_registry):
            generation.forget()


def test_an_unreachable_redis_turns_caching_off_for_a_while(caplog):
    generation = RedisGeneration("redis://127.0.0.1:1/0", secrets.token_urlsafe(48))
    assert generation.current() is None
    generation.bump()  # logged, never raised: the write it follows stands
    assert "read cache off" in caplog.text


def test_where_the_generation_lives(settings, tmp_path):
    from registry import Settings

    def place(**overrides):
        chosen = read_cache.make_generation(Settings(**{**settings.__dict__, **overrides}), lambda: "x" * 64)
        return type(chosen).__name__ if chosen else None

    embedded = settings.is_embedded_database
    assert place() == ("HostGeneration" if embedded else None)
    assert place(ratelimit_storage_url=REDIS_URL) == ("HostGeneration" if embedded else "RedisGeneration")
    assert place(read_cache="off") is None and place(read_cache_seconds=0) is None
    assert place(read_cache="host") == "HostGeneration" and place(read_cache=REDIS_URL) == "RedisGeneration"
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    assert place(read_cache="host", data_dir=blocked) is None  # logged; the registry still serves
    with pytest.raises(ValueError, match="REGISTRY_READ_CACHE"):
        Settings(read_cache="memcached://x")
