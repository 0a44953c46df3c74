"""A package's tags, versions and instances, and an owner's packages, however many: the API
sends all of them, in order and byte for byte as before, reading a batch of rows at a time
(services.keyset) through an index that holds the list's order. A tag or a version is one
request, an instance one push, a package one push of a new name, so an owner can grow any of
these lists with cheap requests, and anyone may read those of public packages. Measured in
benchmarks/package_lists.py."""

from __future__ import annotations

import re
import tracemalloc

import pytest
from flask import jsonify
from packaging.version import Version as Pep440
from sqlalchemy import select

from registry.api import json_output
from registry.api.contract import dump
from registry.models import Access, Instance, Package, Tag, Version
from registry.schemas import responses
from registry.services import keyset
from tests.api.test_long_history import analyzed
from tests.helpers import query_plans, recorded_statements

TAGS = ["latest", "A", "a", "B", "t-1", "t.1", "T1", "z9", "Z9", "0", "stable"]
VERSIONS = ["1.0", "1.0.0", "v1.0.1", "2.0rc1", "2.0pre2", "1.0.dev3", "1!0.1", "1.0+local.7", "1.0+local.a",
            "1.0.post2", "10.0", "9.0", "1.0a1", "1.0b1", "1.0a1.dev1", "0.9", "1.0.post1.dev1", "2.0"]
LISTS = {"tags": "/api/tag/alice/lists/", "versions": "/api/version/alice/lists/",
         "hashes": "/api/package/alice/lists/", "packages": "/api/package/alice/", "users": "/api/access/alice/lists/"}
SIGNED_IN_ONLY = {"users"}


@pytest.fixture
def lists(registry):
    """alice/lists (public) with 4 instances, the tags and versions above (as written), and
    alice's other packages: public, private, shared with bob, and on the team."""
    registry.create_user("alice")
    registry.create_user("bob")
    token = registry.token("alice")
    for number in range(4):
        registry.push(token, "alice", "lists", {"a": f"content {number}".encode()}, is_public=True)
    for name, principal in [("Zeta", "public"), ("beta", None), ("alpha", "bob"), ("Alpha2", "team"),
                            ("gamma", "public")]:
        registry.push(token, "alice", name, {"b": name.encode()}, is_public=principal == "public")
        if principal in ("bob", "team"):
            assert registry.api("PUT", f"/api/access/alice/{name}/{principal}", token=token).status_code == 200
    with registry.state.session_factory() as session:
        package_id = session.scalar(select(Package.id).where(Package.name == "lists"))
        instance_ids = session.scalars(select(Instance.id).where(Instance.package_id == package_id)
                                       .order_by(Instance.id)).all()
    for number, tag in enumerate(TAGS[1:]):
        hash_ = _hashes(registry, instance_ids)[instance_ids[number % 4]]
        assert registry.api("PUT", f"/api/tag/alice/lists/{tag}", token=token, body={"hash": hash_}).status_code == 200
    for number, version in enumerate(VERSIONS):
        hash_ = _hashes(registry, instance_ids)[instance_ids[number % 4]]
        assert registry.api("PUT", f"/api/version/alice/lists/{version}", token=token,
                            body={"hash": hash_}).status_code == 200
    return registry, package_id


def _hashes(registry, ids) -> dict[int, str]:
    with registry.state.session_factory() as session:
        return dict(session.execute(select(Instance.id, Instance.hash).where(Instance.id.in_(ids))).all())


def _signed_in(registry, listed: str) -> dict:
    return {"Authorization": f"Bearer {registry.token('bob')}"} if listed in SIGNED_IN_ONLY else {}


def expected(registry, package_id: int, listed: str, caller: str | None) -> bytes:
    """What the registry answered before its lists were streamed: every row, read at once and
    sorted, through the response schema and `jsonify`."""
    with registry.state.session_factory() as session:
        if listed == "tags":
            rows = session.execute(select(Tag.name, Instance.hash).join(Instance, Instance.id == Tag.instance_id)
                                   .where(Tag.package_id == package_id).order_by(Tag.name)).all()
            answer = responses.TagList, {"tags": [{"tag": tag, "hash": hash_} for tag, hash_ in rows]}
        elif listed == "versions":
            rows = session.execute(select(Version.version, Version.user_version, Instance.hash)
                                   .join(Instance, Instance.id == Version.instance_id)
                                   .where(Version.package_id == package_id)).all()
            # PEP 440 order; `1.0` and `1.0.0` are equal there, and come by name
            rows = sorted(rows, key=lambda row: (Pep440(row.version), row.version))
            answer = responses.VersionList, {"versions": [{"version": row.user_version, "hash": row.hash}
                                                          for row in rows]}
        elif listed == "users":
            answer = responses.AccessList, {"users": sorted(session.scalars(
                select(Access.principal).where(Access.package_id == package_id)))}
        elif listed == "hashes":
            answer = responses.InstanceHashes, {"hashes": session.scalars(
                select(Instance.hash).where(Instance.package_id == package_id).order_by(Instance.id)).all()}
        else:
            allowed = {"public"} | ({caller, "team"} if caller else set())
            shared = {}
            for package, principal in session.execute(select(Package.name, Access.principal)
                                                      .join(Access, Access.package_id == Package.id)):
                shared.setdefault(package, set()).add(principal)
            answer = responses.OwnerPackages, {"packages": [
                {"name": name, "is_public": "public" in shared.get(name, ()), "is_team": "team" in shared.get(name, ())}
                for name in sorted(name for name in shared if shared[name] & allowed)]}
    with registry.app.test_request_context():
        return jsonify(dump(*answer)).get_data()


@pytest.mark.parametrize("batch_rows", [1, 3, 1_000])
@pytest.mark.parametrize("listed", LISTS)
def test_each_list_is_sent_as_before_however_it_is_read(lists, monkeypatch, listed, batch_rows):
    registry, package_id = lists
    monkeypatch.setattr(keyset, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(json_output, "CHUNK_BYTES", 50)
    for caller in (None, "bob", "alice"):
        if caller is None and listed in SIGNED_IN_ONLY:
            continue
        token = registry.token(caller) if caller else None
        response = registry.api("GET", LISTS[listed], token=token)
        assert response.status_code == 200 and "Content-Length" not in response.headers  # sent as it is read
        if listed != "packages" or caller != "alice":
            assert response.get_data() == expected(registry, package_id, listed, caller)
        else:  # the owner reads every package of their own
            assert [p["name"] for p in response.get_json()["packages"]] == [
                "Alpha2", "Zeta", "alpha", "beta", "gamma", "lists"]
    items = registry.client.get(LISTS[listed], headers=_signed_in(registry, listed)).get_json()[listed]
    if listed == "versions":
        assert [v["version"] for v in items] == [
            "0.9", "1.0.dev3", "1.0a1.dev1", "1.0a1", "1.0b1", "1.0", "1.0.0", "1.0+local.a", "1.0+local.7",
            "1.0.post1.dev1", "1.0.post2", "v1.0.1", "2.0rc1", "2.0pre2", "2.0", "9.0", "10.0", "1!0.1"]
    if listed == "packages":
        assert items == [{"name": "Zeta", "is_public": True, "is_team": False},
                         {"name": "gamma", "is_public": True, "is_team": False},
                         {"name": "lists", "is_public": True, "is_team": False}]


@pytest.mark.parametrize("listed", ["tags", "versions", "hashes", "users"])
def test_a_list_the_caller_may_not_read_is_a_404_not_a_stream(lists, listed):
    registry, _ = lists
    registry.api("DELETE", "/api/access/alice/lists/public", token=registry.token("alice"))
    response = registry.api("GET", LISTS[listed], token=registry.token("bob"))
    assert response.status_code == 404 and response.headers["Content-Length"] == str(len(response.get_data()))
    assert response.get_json()["message"].startswith("Package alice/lists does not exist")


def test_packages_of_no_possible_owner_are_a_plain_404(registry):
    response = registry.client.get("/api/package/Not-A-User/")
    assert response.status_code == 404 and response.headers["Content-Length"] == str(len(response.get_data()))
    assert response.get_json()["message"] == "No user can be called 'Not-A-User'"


def add_rows(registry, package_id: int, listed: str, count: int) -> None:
    """`count` more rows of the list, in thousands."""
    with registry.state.session_factory() as session:
        instance_id = session.scalar(select(Instance.id).where(Instance.package_id == package_id).limit(1))
        for start in range(0, count, 1_000):
            numbers = range(start, start + 1_000)
            if listed == "tags":
                session.add_all(Tag(package_id=package_id, name=f"many-{n:05}", instance_id=instance_id,
                                    updated_by="alice") for n in numbers)
            elif listed == "versions":
                session.add_all(Version(package_id=package_id, version=f"5.{n}", user_version=f"5.{n}",
                                        instance_id=instance_id, created_by="alice") for n in numbers)
            elif listed == "users":  # grants to users who need not exist for the list
                session.add_all(Access(package_id=package_id, principal=f"user_{n:05}_{'x' * 50}") for n in numbers)
            elif listed == "hashes":
                session.add_all(Instance(package_id=package_id, hash=f"{n:064x}", created_by="alice",
                                         updated_by="alice") for n in numbers)
            else:
                packages = [Package(owner="alice", name=f"many_{n:05}", folded_handle=f"alice/many_{n:05}")
                            for n in numbers]
                session.add_all(packages)
                session.flush()
                session.add_all(Access(package_id=package.id, principal="public") for package in packages)
            session.flush()
        session.commit()


@pytest.mark.parametrize("listed", LISTS)
def test_a_long_list_is_never_held_whole(lists, monkeypatch, listed):
    """20,000 more rows of the list, over 1 MiB of JSON: sent while Python holds a batch of them
    and what any request holds (before: the whole list, as rows, dicts and JSON, 8 to 15 MiB
    here and 18 to 85 MiB at 50,000)."""
    registry, package_id = lists
    add_rows(registry, package_id, listed, 20_000)
    monkeypatch.setattr(keyset, "BATCH_ROWS", 100)
    assert registry.client.get(LISTS[listed], headers=_signed_in(registry, listed)).status_code == 200  # built once
    tracemalloc.start()
    try:
        response = registry.client.get(LISTS[listed], buffered=False, headers=_signed_in(registry, listed))
        sent = sum(len(piece) for piece in response.response)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200 and sent > 2 ** 20
    assert peak < 2 ** 20, f"{peak:,} bytes held to send {sent:,}"


def test_each_list_walks_an_index_in_its_order(lists):
    """Each batch is one step into an index that holds the list's order: no sort, whatever the
    length of the list (a sort would read the whole list for every batch)."""
    registry, package_id = lists
    for listed in LISTS:
        add_rows(registry, package_id, listed, 2_000)
    engine = analyzed(registry, "tag, version, instance, package, access")
    indexes = {"tag": "PRIMARY", "version": "ix_version_package_id_sort_key", "instance": "ix_instance_package_id_id",
               "package": "uq_package_owner_name", "access": "PRIMARY"}
    for listed, path in LISTS.items():
        with recorded_statements(engine) as recorded:
            response = registry.client.get(path, headers=_signed_in(registry, listed))
            assert response.status_code == 200 and len(response.get_json()[listed]) > 2_000  # read while recorded
        table = {"tags": "tag", "versions": "version", "hashes": "instance", "packages": "package",
                 "users": "access"}[listed]
        seen = [(statement, parameters) for statement, parameters in recorded
                if "ORDER BY" in statement and re.search(f"FROM `?{table}`?\\s", statement)]
        assert len(seen) == 3, recorded  # 2,000 rows and more: three batches
        for plan in query_plans(engine, seen):
            if engine.dialect.name == "sqlite":
                assert plan[0].startswith(f"SEARCH {table} USING ") and not any("TEMP B-TREE" in step
                                                                               for step in plan), plan
            else:
                first = plan[0]
                assert (first["table"], first["key"], "filesort" in (first["Extra"] or "")) == (
                    table, indexes[table], False), plan
