"""GET /api/package/..., package lists and POST /api/get_objects (protocol.md 9.4-9.6)."""

import hashlib
import json

import pytest
from sqlalchemy import select

from registry.models import Access, Event, Instance, Package
from registry.services import blobs, fragment_sets, permissions
from registry.services.fragment_sets import Stored
from tests.helpers import build_tree, query_plans, recorded_statements, sha256

FILES = {"README": b"# Demo\n", "data/table.csv": b"a,b\n1,2\n", "data/raw/bytes.bin": bytes(range(256)),
         "empty": b""}


@pytest.fixture
def pushed(any_registry):
    any_registry.create_user("alice")
    response, top_hash = any_registry.push(any_registry.token("alice"), "alice", "demo", FILES)
    assert response.status_code == 200
    return any_registry, top_hash


def test_install_returns_the_tree_as_pushed_with_urls_and_sizes(pushed):
    registry, top_hash = pushed
    response = registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=&meta_only=",
                            token=registry.token("alice"))
    assert response.status_code == 200
    body = response.get_json()
    contents, _ = build_tree(FILES)
    assert body["contents"] == contents
    assert set(body) == {"contents", "urls", "sizes", "created_by", "created_at", "updated_by", "updated_at"}
    assert body["sizes"] == {sha256(v): len(v) for v in FILES.values()}
    assert set(body["urls"]) == set(body["sizes"])
    assert (body["created_by"], body["updated_by"]) == ("alice", "alice")
    assert isinstance(body["created_at"], float)
    for path, data in FILES.items():
        assert registry.download(body["urls"][sha256(data)], len(data)) == data, path
    with registry.state.session_factory() as session:
        event = session.scalar(select(Event).where(Event.type == "INSTALL"))
        assert (event.user, event.package_hash, json.loads(event.extra)) == ("alice", top_hash, {"subpath": None})


def test_ranged_download_resumes_from_an_offset(pushed):
    registry, top_hash = pushed
    body = registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=registry.token("alice")).get_json()
    data = FILES["data/raw/bytes.bin"]
    status, headers, chunk = registry.transfer("GET", body["urls"][sha256(data)], headers={"Range": "bytes=200-"})
    assert (status, headers["Content-Range"], chunk) == (206, "bytes 200-255/256", data[200:])


def test_subpath_and_meta_only_narrow_the_urls_but_not_the_tree(pushed):
    registry, top_hash = pushed
    token = registry.token("alice")
    sub = registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=data/raw&meta_only=", token=token).get_json()
    assert sub["sizes"] == {sha256(FILES["data/raw/bytes.bin"]): 256}
    assert sub["contents"]["children"].keys() == {"README", "data", "empty"}
    meta = registry.api("GET", f"/api/package/alice/demo/{top_hash}?subpath=&meta_only=true", token=token).get_json()
    assert (meta["urls"], meta["sizes"]) == ({}, {})
    with registry.state.session_factory() as session:
        extras = [json.loads(e.extra) for e in session.scalars(select(Event).where(Event.type == "INSTALL"))]
        assert {"subpath": "data/raw"} in extras


def test_install_errors(pushed):
    registry, top_hash = pushed
    token = registry.token("alice")

    def get(path, **kwargs):
        response = registry.api("GET", path, **kwargs)
        return response.status_code, response.get_json()["message"]

    assert get(f"/api/package/alice/demo/{top_hash}?subpath=nope", token=token) == (404, "Invalid subpath: 'nope'")
    assert get(f"/api/package/alice/demo/{top_hash}?subpath=README/x", token=token) == (404, "Invalid subpath: 'x'")
    assert get(f"/api/package/alice/demo/{'0' * 64}", token=token) == (404, "Package hash does not exist")
    assert get(f"/api/package/alice/other/{top_hash}", token=token) == (404, "Package hash does not exist")
    assert get(f"/api/package/alice/demo/{top_hash}?meta_only=maybe", token=token) == (
        400, "meta_only must be 'true' or empty, not 'maybe'")
    # Private: strangers and anonymous callers get exactly the answer for a missing package.
    registry.create_user("bob")
    assert get(f"/api/package/alice/demo/{top_hash}", token=registry.token("bob")) == (404, "Package hash does not exist")
    assert get(f"/api/package/alice/demo/{top_hash}") == (404, "Package hash does not exist")


def test_public_packages_install_anonymously(registry):
    registry.create_user("alice")
    response, top_hash = registry.push(registry.token("alice"), "alice", "open", FILES, is_public=True)
    body = registry.api("GET", f"/api/package/alice/open/{top_hash}").get_json()
    assert body["sizes"][sha256(b"")] == 0
    assert registry.download(body["urls"][sha256(b"")], 0) == b""
    with registry.state.session_factory() as session:
        assert session.scalar(select(Event.user).where(Event.type == "INSTALL")) is None


def test_instance_and_owner_listings_respect_visibility(registry):
    for name in ("alice", "bob"):
        registry.create_user(name)
    alice = registry.token("alice")
    _, first = registry.push(alice, "alice", "private", FILES)
    _, second = registry.push(alice, "alice", "private", {**FILES, "more": b"more"})
    registry.push(alice, "alice", "public", FILES, is_public=True)
    registry.push(alice, "alice", "team", FILES, is_team=True)

    hashes = registry.api("GET", "/api/package/alice/private/", token=alice)
    assert (hashes.status_code, hashes.get_json()) == (200, {"hashes": [first, second]})
    assert registry.api("GET", "/api/package/alice/private", token=alice).status_code == 200
    hidden = registry.api("GET", "/api/package/alice/private/", token=registry.token("bob"))
    assert (hidden.status_code, hidden.get_json()["message"]) == (404, "Package alice/private does not exist")
    anonymous = registry.api("GET", "/api/package/alice/private/")
    assert anonymous.get_json()["message"] == "Package alice/private does not exist (do you need to log in?)"

    def names(token=None):
        return registry.api("GET", "/api/package/alice/", token=token).get_json()["packages"]

    assert names(alice) == [{"name": "private", "is_public": False, "is_team": False},
                            {"name": "public", "is_public": True, "is_team": False},
                            {"name": "team", "is_public": False, "is_team": True}]
    assert [p["name"] for p in names(registry.token("bob"))] == ["public", "team"]
    assert [p["name"] for p in names()] == ["public"]
    assert registry.api("GET", "/api/package/nobody/").get_json() == {"packages": []}


def test_get_objects_returns_only_readable_fragments(registry):
    for name in ("alice", "bob"):
        registry.create_user(name)
    registry.push(registry.token("alice"), "alice", "open", {"a": b"public bytes"}, is_public=True)
    registry.push(registry.token("alice"), "alice", "closed", {"b": b"private bytes"})
    registry.push(registry.token("bob"), "bob", "mine", {"a": b"public bytes"})
    wanted = [sha256(b"public bytes"), sha256(b"private bytes"), "f" * 64]

    anonymous = registry.api("POST", "/api/get_objects", body=wanted).get_json()
    assert anonymous["sizes"] == {sha256(b"public bytes"): 12}
    assert "/alice/" in anonymous["urls"][sha256(b"public bytes")]
    # bob holds his own copy too: his wins, deterministically.
    bob = registry.api("POST", "/api/get_objects", body=wanted, token=registry.token("bob")).get_json()
    assert set(bob["urls"]) == {sha256(b"public bytes")}
    assert "/bob/" in bob["urls"][sha256(b"public bytes")]
    alice = registry.api("POST", "/api/get_objects", body=wanted, token=registry.token("alice")).get_json()
    assert alice["sizes"] == {sha256(b"public bytes"): 12, sha256(b"private bytes"): 13}
    assert registry.download(alice["urls"][sha256(b"private bytes")], 13) == b"private bytes"

    bad = registry.api("POST", "/api/get_objects", body=["nope"])
    assert bad.status_code == 400 and "hashes" in bad.get_json()["errors"]
    not_a_list = registry.api("POST", "/api/get_objects", body={"a": 1})
    assert not_a_list.status_code == 400


def test_the_client_analytics_endpoint_accepts_anything(registry):
    response = registry.api("POST", "/api/log", body=[{"type": "build", "package": "x", "dry_run": False}])
    assert (response.status_code, response.get_json()) == (200, {})


def test_get_objects_finds_its_hashes_through_the_blob_key(registry):
    """`POST /api/get_objects` names hashes without owners: the blob table's key starts with the
    hash (migration 0009), so each is found by a lookup, not by walking what the registry
    holds. With the key (owner, hash), MariaDB read every row of the table for each 2,000
    hashes, and SQLite went through every instance's chunk links; anyone may send 100,000."""
    registry.create_user("alice")
    registry.create_user("carol")
    registry.push(registry.token("alice"), "alice", "open", {"a": b"public bytes"}, is_public=True)
    others = {hashlib.sha256(str(n).encode()).hexdigest(): Stored(5) for n in range(20_000)}
    with registry.state.session_factory() as session:  # a public package of 20,000 fragments
        package = Package(owner="carol", name="big", folded_handle="carol/big")
        session.add(package)
        session.flush()
        session.add_all(Access(package_id=package.id, principal=p) for p in ("carol", permissions.PUBLIC))
        instance = Instance(package_id=package.id, hash="e" * 64, created_by="carol", updated_by="carol")
        session.add(instance)
        session.flush()
        _, ids = blobs.add_blobs(session, "carol", others)
        fragment_sets.write(session, instance.id, "carol", others, ids)
        session.commit()
    engine = registry.state.engine
    if engine.dialect.name != "sqlite":  # the statistics a server keeps up to date, now
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE TABLE `blob`, chunk_blob, instance_chunk, instance, package, access")
    asked = [sha256(b"public bytes"), *list(others)[:100], "f" * 64]
    with recorded_statements(engine) as recorded:
        answer = registry.api("POST", "/api/get_objects", body=asked)
    assert answer.get_json()["sizes"] == {sha256(b"public bytes"): 12, **{h: 5 for h in list(others)[:100]}}
    seen = [(statement, parameters) for statement, parameters in recorded if "chunk_blob" in statement]
    assert seen
    for plan in query_plans(engine, seen):
        if engine.dialect.name == "sqlite":
            steps = [step for step in plan if " blob " in f" {step} "]
            assert steps and all(step.startswith("SEARCH blob USING") and "(hash=?)" in step for step in steps), steps
        else:
            assert [row["key"] for row in plan if row["table"] == "blob"] == ["uq_blob_hash_owner"], \
                [(row["table"], row["type"], row["key"], row["rows"]) for row in plan]
