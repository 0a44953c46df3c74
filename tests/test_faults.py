"""A hung or restarting dependency under load (issue 9, "Faults").

A live registry (gunicorn, 2 workers) on a MariaDB server and a SeaweedFS of this test's own,
with threads pushing (dry run, uploads to the presigned URLs, real push) and installing the
whole time, while the test freezes S3 (SIGSTOP), freezes MariaDB, and restarts MariaDB. Every
request must answer within 10 s, either normally or with a JSON 503 naming the dependency and a
Retry-After; /healthcheck must answer within 5 s and say which dependency is down; service must
come back by itself; and nothing may be half-written.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import secrets
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from registry import Settings, create_app, migrate
from registry.db import make_engine, make_session_factory
from registry.models import Event, Instance, Log, Package, Tag
from registry.tree import tophash
from tests.helpers import TestRegistry, build_tree, http_push, linked_hashes_by_instance
from tests.support.live_server import LiveRegistry
from tests.support.mariadb_server import MariaDBServer
from tests.support.seaweedfs import SeaweedFS

REQUEST_BOUND = 10.0  # seconds: the bound for any request while a dependency is down
HEALTH_BOUND = 5.0
MARGIN = 1.5  # a busy 2-core CI machine
CLIENT_TIMEOUT = 60  # far beyond the bounds, so a slow answer is measured, not cut off
S3_CLIENT_TIMEOUT = 3  # the load's own uploads straight to S3 (not registry requests)
OUTAGE_SECONDS = 12  # longer than any timeout the registry has, so every kind of request meets it
RECOVERY_TIMEOUT = 30
PUSHERS = 3
UNAVAILABLE_CODES = {"storage_unavailable", "database_unavailable", "busy"}

# MariaDB + S3 is what this test is about; REGISTRY_TEST_DATABASES=sqlite (a quick local run
# without MariaDB, see README "Tests") leaves it out like every other MariaDB test.
pytestmark = pytest.mark.skipif("mysql" not in os.environ.get("REGISTRY_TEST_DATABASES", "sqlite,mysql"),
                                reason="REGISTRY_TEST_DATABASES leaves out MariaDB")


@dataclasses.dataclass
class Outcome:
    phase: str
    kind: str
    status: int | None  # None: no answer at all within CLIENT_TIMEOUT
    seconds: float
    body: dict | None
    retry_after: str | None
    finished: float = 0.0  # time.monotonic() when the answer came
    top_hash: str | None = None
    uploads_failed: bool = False

    @property
    def code(self) -> str | None:
        return (self.body or {}).get("code")


class Load:
    """Pushers and installers in threads; every registry request is recorded with the phase in
    which it was sent."""

    def __init__(self, base: str, tokens: dict[str, str], installs: list[tuple[str, str, str]]):
        self.base = base
        self.tokens = tokens
        self.installs = installs
        self.phase = "normal"
        self.phase_started = {"normal": time.monotonic()}
        self.outcomes: list[Outcome] = []
        self.health: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def set_phase(self, phase: str) -> None:
        self.phase_started[phase] = time.monotonic()
        self.phase = phase

    def settled(self, phase: str, until: str, *, health: bool = False) -> list[Outcome]:
        """Requests sent in `phase` and answered before phase `until` began (the next outage
        catches those still in flight)."""
        end = self.phase_started[until]
        return [o for o in (self.health if health else self.outcomes) if o.phase == phase and o.finished < end]

    def start(self) -> None:
        workers = [lambda i=i: self._pusher(i) for i in range(PUSHERS)] + [self._installer, self._installer,
                                                                            self._health_checker]
        self._threads = [threading.Thread(target=work, daemon=True) for work in workers]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT * 3)

    def _request(self, kind: str, method: str, path: str, token: str | None = None, body=None,
                 **extra) -> Outcome:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = gzip.compress(json.dumps(body).encode())
            headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
        phase, started = self.phase, time.monotonic()
        try:
            response = requests.request(method, self.base + path, data=data, headers=headers,
                                        timeout=CLIENT_TIMEOUT)
            status, retry_after = response.status_code, response.headers.get("Retry-After")
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
        except requests.RequestException:
            status, parsed, retry_after = None, None, None
        finished = time.monotonic()
        outcome = Outcome(phase, kind, status, finished - started, parsed, retry_after, finished, **extra)
        with self._lock:
            (self.health if kind == "health" else self.outcomes).append(outcome)
        return outcome

    def _pusher(self, number: int) -> None:
        owner = f"user{number}"
        token = self.tokens[owner]
        for round_ in range(1_000_000):
            if self._stop.is_set():
                return
            contents, blobs = build_tree({"data": f"{owner} round {round_} {secrets.token_hex(4)}".encode(),
                                          "shared": b"the same bytes in every push"})
            top_hash = tophash(contents)
            path = f"/api/package/{owner}/load/{top_hash}"
            body = {"dry_run": True, "is_public": False, "is_team": False, "description": "", "contents": contents,
                    "sizes": {}}
            dry = self._request("dry_run", "PUT", path, token, body, top_hash=top_hash)
            if dry.status != 200:
                time.sleep(0.2)
                continue
            uploads_failed = not self._upload(dry.body["upload_urls"], blobs)
            body.update(dry_run=False, sizes={digest: len(data) for digest, data in blobs.items()})
            # The real push goes out even when S3 did not take the uploads: that is the request
            # that must not hang on a hung S3.
            self._request("push", "PUT", path, token, body, top_hash=top_hash, uploads_failed=uploads_failed)

    @staticmethod
    def _upload(urls: dict, blobs: dict[str, bytes]) -> bool:
        try:
            for digest, pair in urls.items():
                if requests.head(pair["head"], timeout=S3_CLIENT_TIMEOUT).status_code != 200:
                    if requests.put(pair["put"], data=blobs[digest], timeout=S3_CLIENT_TIMEOUT).status_code != 200:
                        return False
            return True
        except requests.RequestException:
            return False

    def _installer(self) -> None:
        while not self._stop.is_set():
            for owner, name, top_hash in self.installs:
                token = self.tokens[owner]
                self._request("install", "GET", f"/api/package/{owner}/{name}/{top_hash}", token)
                self._request("tag", "GET", f"/api/tag/{owner}/{name}/latest", token)
                time.sleep(0.05)  # a steady load, not a busy loop on a 2-core machine

    def _health_checker(self) -> None:
        while not self._stop.is_set():
            self._request("health", "GET", "/healthcheck")
            time.sleep(0.3)

    def wait_until_healthy(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY_TIMEOUT:
            response = requests.get(f"{self.base}/healthcheck", timeout=CLIENT_TIMEOUT)
            if response.status_code == 200:
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"the registry did not recover within {RECOVERY_TIMEOUT} s: {response.text}")


@pytest.fixture
def world(tmp_path):
    """MariaDB, SeaweedFS and the registry, all this test's own; everything is stopped afterwards."""
    database = MariaDBServer(tmp_path / "mariadb")
    s3 = SeaweedFS(tmp_path / "seaweedfs")
    server = None
    engine = None
    try:
        database.start()
        database.execute("CREATE DATABASE registry CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        s3.start()
        s3.client().create_bucket(Bucket="registry")
        settings = Settings(data_dir=tmp_path / "data", database_url=database.url("registry"),
                            secret_key=secrets.token_urlsafe(48), storage="s3", s3_bucket="registry",
                            s3_endpoint_url=s3.endpoint_url, s3_region=s3.region,
                            s3_access_key_id=s3.access_key, s3_secret_access_key=s3.secret_key)
        engine = make_engine(settings.effective_database_url)
        migrate.upgrade(engine)
        app = create_app(settings)
        helper = TestRegistry(app)
        tokens = {}
        for number in range(PUSHERS):
            helper.create_user(f"user{number}")
            tokens[f"user{number}"] = helper.token(f"user{number}")
        app.extensions["registry"].engine.dispose()
        server = LiveRegistry(settings, tmp_path / "server.log").start()
        yield database, s3, server, tokens, make_session_factory(engine)
    finally:
        if server is not None:
            server.stop()
        s3.stop()
        database.stop()
        if engine is not None:
            engine.dispose()


def _push(base: str, token: str, owner: str, name: str, files: dict[str, bytes]) -> str:
    status, top_hash = http_push(base, token, owner, name, files, timeout=CLIENT_TIMEOUT)
    assert status == 200
    return top_hash


def _outage(load: Load, name: str, freeze, thaw, seconds: float = OUTAGE_SECONDS) -> float:
    load.set_phase(f"{name} down")
    freeze()
    try:
        time.sleep(seconds)
    finally:
        thaw()
    load.set_phase(f"{name} back")
    recovered = load.wait_until_healthy()
    load.set_phase(f"after {name}")
    time.sleep(4)
    return recovered


def test_requests_answer_503_in_time_while_a_dependency_hangs_and_recover_by_themselves(world):
    database, s3, server, tokens, sessions = world
    installs = [(owner, "base", _push(server.url, token, owner, "base", {"README": b"# base\n", "x": owner.encode()}))
                for owner, token in tokens.items()]
    load = Load(server.url, tokens, installs)
    load.start()
    try:
        time.sleep(4)
        _outage(load, "storage", s3.freeze, s3.thaw)
        _outage(load, "database", database.freeze, database.thaw)
        _outage(load, "database restart", database.stop, database.start, seconds=4)
        load.set_phase("done")
    finally:
        load.stop()
    _print_summary(load)

    failures = [o for o in load.outcomes if not _acceptable(o)]
    assert not failures, _report("unacceptable answers", failures, server)
    slow = [o for o in load.outcomes if o.seconds > REQUEST_BOUND + MARGIN]
    assert not slow, _report(f"requests slower than {REQUEST_BOUND} s", slow, server)
    slow_health = [o for o in load.health if o.seconds > HEALTH_BOUND + MARGIN or o.status not in (200, 503)]
    assert not slow_health, _report(f"health checks slower than {HEALTH_BOUND} s or not 200/503", slow_health, server)

    by_phase = Counter((o.phase, o.kind, o.status, o.code) for o in load.outcomes)
    # Each outage was met: real pushes found S3 down; every kind of request found the database down.
    # A push sent just before the freeze meets it as well: on a slow machine a pusher, after that
    # push's 503 and its next uploads' timeouts, may send its next real push only after the thaw.
    assert any(o.kind == "push" and o.status == 503 and o.code == "storage_unavailable"
               and o.phase in ("normal", "storage down") for o in load.outcomes), by_phase
    for kind in ("dry_run", "install"):
        assert any(o.phase.startswith("database") and o.kind == kind and o.code == "database_unavailable"
                   for o in load.outcomes), (kind, by_phase)
    _health_names_the_dependency(load)
    # And each time service came back by itself: everything answered normally afterwards.
    for name, following in (("storage", "database down"), ("database", "database restart down"),
                            ("database restart", "done")):
        after = load.settled(f"after {name}", following)
        assert {o.kind for o in after if o.status == 200} >= {"dry_run", "push", "install", "tag"}, (name, by_phase)
        assert all(o.status == 200 for o in after if not o.uploads_failed), _report(
            f"errors after {name} came back", [o for o in after if o.status != 200], server)
    _nothing_half_written(sessions, load.outcomes)


def _acceptable(outcome: Outcome) -> bool:
    if outcome.status == 200:
        return True
    if outcome.status == 503:
        return outcome.code in UNAVAILABLE_CODES and outcome.body.get("status") == 503 and bool(outcome.retry_after)
    # A push whose uploads S3 never took (it was frozen) may find the fragments missing once S3 is back.
    return (outcome.status == 400 and outcome.kind == "push" and outcome.uploads_failed
            and "not in storage" in outcome.body.get("message", ""))


def _health_names_the_dependency(load: Load) -> None:
    health = load.health
    expected = {"storage down": "storage", "database down": "database", "database restart down": "database"}
    for phase, dependency in expected.items():
        during = [o for o in health if o.phase == phase]
        # The first checks of a phase may have been answered before the dependency actually stopped.
        down = [o for o in during if o.status == 503]
        assert down, (phase, during)
        for outcome in down:
            other = "database" if dependency == "storage" else "storage"
            assert outcome.body["status"] == "unavailable", outcome
            assert outcome.body[dependency].startswith("down: "), outcome
            assert outcome.body[other] == "ok", outcome
    healthy = (load.settled("normal", "storage down", health=True)
               + load.settled("after storage", "database down", health=True)
               + load.settled("after database", "database restart down", health=True)
               + load.settled("after database restart", "done", health=True))
    assert healthy and all(o.status == 200 and o.body == {"status": "ok", "database": "ok", "storage": "ok"}
                           for o in healthy), healthy


def _nothing_half_written(sessions, outcomes: list[Outcome]) -> None:
    with sessions() as session:
        instances = session.execute(select(Instance.id, Instance.package_id, Instance.hash)).all()
        logged = set(session.scalars(select(Log.instance_id)))
        links = {instance_id: len(hashes) for instance_id, hashes in linked_hashes_by_instance(session).items()}
        latest = {package_id: instance_id for package_id, instance_id in session.execute(
            select(Tag.package_id, Tag.instance_id).where(Tag.name == "latest"))}
        packages = set(session.scalars(select(Package.id)))
        push_events = set(session.scalars(select(Event.package_hash).where(Event.type == "PUSH")))
    stored = {hash_ for _, _, hash_ in instances}
    owner_of = {instance_id: package_id for instance_id, package_id, _ in instances}
    assert all(instance_id in logged for instance_id, _, _ in instances), "an instance without its log row"
    assert all(links.get(instance_id) == 2 for instance_id, _, _ in instances), "an instance without its fragments"
    assert set(latest) == packages, "a package without `latest`"
    assert all(owner_of.get(instance_id) == package_id for package_id, instance_id in latest.items()), \
        "`latest` points at a missing instance or another package's"
    pushed = {o.top_hash for o in outcomes if o.kind == "push" and o.status == 200}
    assert pushed <= stored, "a push answered 200 but is not in the database"
    assert stored <= push_events, "an instance without its PUSH event"
    refused = {o.top_hash for o in outcomes if o.kind == "push" and o.code == "storage_unavailable"}
    assert not refused & stored, "a push refused for storage was written anyway"


def _print_summary(load: Load) -> None:
    """Shown with `pytest -s`: how long each kind of request took in each phase."""
    rows = {}
    for o in load.outcomes + load.health:
        rows.setdefault((o.phase, o.kind, o.status, o.code), []).append(o.seconds)
    for (phase, kind, status, code), seconds in sorted(rows.items(), key=lambda item: str(item[0])):
        print(f"{phase:24} {kind:8} {status!s:5} {code or '':22} n={len(seconds):4} max={max(seconds):5.2f} s")


def _report(title: str, outcomes: list[Outcome], server: LiveRegistry) -> str:
    lines = [f"{o.phase}: {o.kind} -> {o.status} in {o.seconds:.1f} s: {o.body}" for o in outcomes[:20]]
    log_tail = "\n".join(server.log().splitlines()[-40:])
    return f"{title} ({len(outcomes)}):\n" + "\n".join(lines) + f"\n--- server log ---\n{log_tail}"
