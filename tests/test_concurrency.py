"""32 concurrent writers against a live registry (gunicorn, 2 workers x 8 threads) on each
database: no 5xx, exactly one winner of a compare-and-swap, no lost log rows, a consistent
`latest`. Identical requests that race for the same unique key all succeed (the loser's unit of
work is retried on a fresh transaction) or, where the operation cannot be repeated, get a 409."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from registry import create_app
from registry.db import make_engine, make_session_factory
from registry.models import Instance, Log, Package, Tag, Version
from registry.tree import tophash
from tests.helpers import TestRegistry, build_tree, http_push, http_send
from tests.support.live_server import LiveRegistry

THREADS = 32
TIMEOUT = 60


@pytest.fixture
def live(settings, tmp_path):
    app = create_app(settings)
    registry = TestRegistry(app)
    for name in ("alice", "bob"):
        registry.create_user(name)
    tokens = {name: registry.token(name) for name in ("alice", "bob")}
    app.extensions["registry"].engine.dispose()
    engine = make_engine(settings.effective_database_url)
    with LiveRegistry(settings, tmp_path / "server.log") as server:
        server.tokens = tokens
        server.db = make_session_factory(engine)
        yield server
    engine.dispose()


def _at_once(calls) -> list[int]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda call: call(), calls))


def _count(live, model, *where) -> int:
    with live.db() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _latest_is_last_push(live, owner: str, name: str) -> None:
    """`latest` names an existing instance: the one of the newest log row."""
    with live.db() as session:
        package = session.scalar(select(Package).where(Package.owner == owner, Package.name == name))
        latest = session.scalar(select(Tag.instance_id).where(Tag.package_id == package.id, Tag.name == "latest"))
        newest_log = session.scalar(select(Log.instance_id).where(Log.package_id == package.id)
                                    .order_by(Log.id.desc()).limit(1))
        assert latest == newest_log
        assert session.get(Instance, latest) is not None


def test_the_same_first_push_from_32_clients(live):
    token = live.tokens["alice"]
    files = {"data.csv": b"a,b\n1,2\n", "README.md": b"# same\n"}
    statuses = _at_once([lambda: http_push(live.url, token, "alice", "same", files, "hello")[0]] * THREADS)
    assert statuses == [200] * THREADS
    assert _count(live, Package, Package.name == "same") == 1
    assert _count(live, Instance) == 1
    assert _count(live, Log) == THREADS  # every push is in the history, none lost
    _latest_is_last_push(live, "alice", "same")


def test_32_different_pushes_to_one_package(live):
    token = live.tokens["alice"]
    calls = [lambda i=i: http_push(live.url, token, "alice", "busy", {f"f{i}.txt": f"{i}".encode()}, f"push {i}")[0]
             for i in range(THREADS)]
    assert _at_once(calls) == [200] * THREADS
    assert _count(live, Instance) == THREADS
    assert _count(live, Log) == THREADS
    _latest_is_last_push(live, "alice", "busy")


@pytest.fixture
def package_with_instances(live):
    """alice/tagged with THREADS + 1 instances; returns their hashes, oldest first."""
    token = live.tokens["alice"]
    hashes = []
    for i in range(THREADS + 1):
        contents, _ = build_tree({"n.txt": f"{i}".encode()})
        assert http_push(live.url, token, "alice", "tagged", {"n.txt": f"{i}".encode()})[0] == 200
        hashes.append(tophash(contents))
    return hashes


def _put_tag(live, tag: str, target: str, **expected) -> int:
    return http_send("PUT", f"{live.url}/api/tag/alice/tagged/{tag}", live.tokens["alice"],
                 {"hash": target, **expected}).status_code


def _tag_target(live, tag: str) -> str | None:
    response = requests.get(f"{live.url}/api/tag/alice/tagged/{tag}",
                            headers={"Authorization": f"Bearer {live.tokens['alice']}"}, timeout=TIMEOUT)
    return response.json()["hash"] if response.status_code == 200 else None


def test_compare_and_swap_has_exactly_one_winner(live, package_with_instances):
    assert _put_tag(live, "stable", package_with_instances[0]) == 200
    for round_ in range(3):
        current = _tag_target(live, "stable")
        # Every writer moves the tag somewhere else (a move onto the current target would be a
        # second, legitimate winner).
        targets = [h for h in package_with_instances if h != current]
        calls = [lambda t=t: _put_tag(live, "stable", t, expected_hash=current) for t in targets]
        statuses = _at_once(calls)
        assert Counter(statuses) == {200: 1, 409: THREADS - 1}, (round_, Counter(statuses))
        winner = targets[statuses.index(200)]
        assert _tag_target(live, "stable") == winner


def test_creating_a_tag_that_must_not_exist_has_one_winner(live, package_with_instances):
    calls = [lambda t=t: _put_tag(live, "fresh", t, expected_hash=None) for t in package_with_instances[1:]]
    statuses = _at_once(calls)
    assert Counter(statuses) == {200: 1, 409: THREADS - 1}
    assert _tag_target(live, "fresh") == package_with_instances[1:][statuses.index(200)]


def test_unconditional_tag_moves_all_succeed(live, package_with_instances):
    targets = package_with_instances[1:]
    assert _at_once([lambda t=t: _put_tag(live, "moving", t) for t in targets]) == [200] * THREADS
    assert _tag_target(live, "moving") in targets
    assert _count(live, Tag, Tag.name == "moving") == 1


def test_the_same_version_and_the_same_grant_race(live, package_with_instances):
    target = package_with_instances[-1]
    url = f"{live.url}/api/version/alice/tagged/1.0"
    statuses = _at_once([lambda: http_send("PUT", url, live.tokens["alice"], {"hash": target}).status_code] * THREADS)
    assert Counter(statuses) == {200: 1, 409: THREADS - 1}
    assert _count(live, Version) == 1

    url = f"{live.url}/api/access/alice/tagged/bob"
    statuses = _at_once([lambda: http_send("PUT", url, live.tokens["alice"]).status_code] * THREADS)
    assert Counter(statuses) == {200: 1, 409: THREADS - 1}
    response = requests.get(f"{live.url}/api/tag/alice/tagged/latest",
                            headers={"Authorization": f"Bearer {live.tokens['bob']}"}, timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["hash"] == target
