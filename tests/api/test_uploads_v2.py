"""Transfers v2 (services.uploads): the push plan, single uploads whose checksum the store checks,
multipart uploads that resume, refuse wrong bytes, refresh their URLs and get collected when
abandoned; on both databases and both stores (SeaweedFS for S3). Parts are 5 MiB here (S3's
smallest) so a 12 MiB fragment goes up in three."""

from __future__ import annotations

import base64
import hashlib
import os
import time

import pytest

from registry import Settings, create_app
from registry.services import upkeep, uploads
from registry.services.context import Actor, Context
from tests.helpers import TestRegistry, build_tree, sha256

MiB = 1024 ** 2
PART = 5 * MiB


def with_parts(storage_settings, **changes) -> Settings:
    """The test's settings with 5 MiB parts for fragments above 5 MiB."""
    return Settings(**{**storage_settings.__dict__, "upload_part_bytes": PART, "multipart_threshold_bytes": PART,
                       **changes})


@pytest.fixture
def v2(storage_settings):
    registry = TestRegistry(create_app(with_parts(storage_settings, part_urls_per_request=2)))
    registry.create_user("alice")
    registry.create_user("bob")
    yield registry
    registry.state.engine.dispose()


def b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def parts_of(data: bytes) -> list[bytes]:
    return [data[i:i + PART] for i in range(0, len(data), PART)]


def put(registry, entry: dict, data: bytes, headers: dict | None = None) -> int:
    return registry.transfer("PUT", entry["url"], data=data, headers=entry["headers"] if headers is None else headers)[0]


def plan(registry, token, files: dict[str, bytes], package="alice/big"):
    contents, blobs = build_tree(files)
    response = registry.api("POST", f"/api/v2/push-plan/{package}", token=token,
                            body={"fragments": {h: len(b) for h, b in blobs.items()}})
    return response, contents, blobs


def commit(registry, token, contents, blobs, package="alice/big"):
    return registry.api("PUT", f"/api/package/{package}/{registry.tophash(contents)}", token=token,
                        body={"dry_run": False, "description": "", "contents": contents,
                              "sizes": {h: len(b) for h, b in blobs.items()}})


def start(registry, token, data: bytes, package="alice/big"):
    return registry.api("POST", f"/api/v2/multipart/{package}", token=token,
                        body={"hash": sha256(data), "size": len(data), "checksums": [b64(p) for p in parts_of(data)]})


def installed(registry, token, top_hash, package="alice/big") -> dict[str, bytes]:
    answer = registry.api("GET", f"/api/package/{package}/{top_hash}", token=token).get_json()
    return {h: registry.download(url, answer["sizes"][h]) for h, url in answer["urls"].items()}


def test_a_push_plan_then_uploads_then_the_push(v2):
    registry, alice = v2, v2.token("alice")
    big, small = os.urandom(12 * MiB + 123), b"small file"
    response, contents, blobs = plan(registry, alice, {"big.bin": big, "small.txt": small})
    assert response.status_code == 200, response.get_json()
    fragments = response.get_json()["fragments"]
    assert fragments[sha256(big)] == {"action": "multipart", "part_size": PART, "parts": 3}
    single = fragments[sha256(small)]
    assert single["action"] == "single" and single["expires_at"] > time.time() + 60
    assert put(registry, single, small) == 200

    started = start(registry, alice, big)
    assert started.status_code == 200, started.get_json()
    upload = started.get_json()
    assert (upload["parts"], upload["done"], upload["completed"]) == (3, [], False)
    assert [u["number"] for u in upload["urls"]] == [1, 2]  # part_urls_per_request: the rest on demand
    more = registry.api("POST", f"/api/v2/multipart/{upload['upload']}/urls", token=alice, body={"parts": [3]})
    urls = {u["number"]: u for u in upload["urls"] + more.get_json()["urls"]}
    for number, part in enumerate(parts_of(big), 1):
        assert put(registry, urls[number], part) == 200
    assert registry.api("POST", f"/api/v2/multipart/{upload['upload']}/complete", token=alice).get_json() == \
        {"completed": True}
    pushed = commit(registry, alice, contents, blobs)
    assert pushed.status_code == 200, pushed.get_json()
    assert installed(registry, alice, registry.tophash(contents)) == blobs

    # Pushed again: everything is stored, nothing to upload.
    again = plan(registry, alice, {"big.bin": big, "small.txt": small})[0].get_json()["fragments"]
    assert set(map(lambda entry: entry["action"], again.values())) == {"stored"}


def test_wrong_bytes_are_refused_by_the_store(v2):
    registry, alice = v2, v2.token("alice")
    big, small = os.urandom(6 * MiB), b"the right bytes"
    fragments = plan(registry, alice, {"big.bin": big, "small.txt": small})[0].get_json()["fragments"]
    assert put(registry, fragments[sha256(small)], b"the wrong bytes") == 400  # BadDigest (S3), hash (local)
    upload = start(registry, alice, big).get_json()
    first = upload["urls"][0]
    wrong = bytearray(parts_of(big)[0])
    wrong[12345] ^= 1
    assert put(registry, first, bytes(wrong)) == 400
    # A part without the checksum header its URL was signed for does not match the signature.
    assert put(registry, first, parts_of(big)[0], headers={}) == 403
    status = registry.api("GET", f"/api/v2/multipart/{upload['upload']}", token=alice).get_json()
    assert status["done"] == []


def test_an_interrupted_multipart_upload_resumes_with_the_parts_it_has(v2):
    registry, alice = v2, v2.token("alice")
    big = os.urandom(11 * MiB)
    first = start(registry, alice, big).get_json()
    assert put(registry, first["urls"][0], parts_of(big)[0]) == 200
    # The client crashed; it starts again with the same parts and gets the same upload.
    again = start(registry, alice, big).get_json()
    assert again["upload"] == first["upload"] and again["done"] == [1]
    assert [u["number"] for u in again["urls"]] == [2, 3]
    early = registry.api("POST", f"/api/v2/multipart/{first['upload']}/complete", token=alice)
    assert early.status_code == 409 and early.get_json()["missing"] == [2, 3]
    for entry, part in zip(again["urls"], parts_of(big)[1:]):
        assert put(registry, entry, part) == 200
    done = registry.api("POST", f"/api/v2/multipart/{first['upload']}/complete", token=alice)
    assert done.status_code == 200, done.get_json()
    assert registry.api("POST", f"/api/v2/multipart/{first['upload']}/complete", token=alice).status_code == 200
    # Completed, not pushed yet (the client crashed again): nothing more to send, and the push finds it.
    finished = start(registry, alice, big).get_json()
    assert (finished["upload"], finished["completed"], finished["done"], finished["urls"]) == \
        (first["upload"], True, [1, 2, 3], [])
    response, contents, blobs = plan(registry, alice, {"big.bin": big})
    assert response.get_json()["fragments"][sha256(big)] == {"action": "stored"}
    assert commit(registry, alice, contents, blobs).status_code == 200


def test_expired_part_urls_are_refused_and_fresh_ones_work(storage_settings):
    settings = with_parts(storage_settings, url_expiry_seconds=3)  # 1 s: fresh URLs could expire under load
    registry = TestRegistry(create_app(settings))
    try:
        registry.create_user("alice")
        alice = registry.token("alice")
        big = os.urandom(PART + 10)
        upload = start(registry, alice, big).get_json()
        assert upload["urls"][0]["expires_at"] <= time.time() + 3
        time.sleep(4.2)
        assert put(registry, upload["urls"][0], parts_of(big)[0]) == 403
        fresh = registry.api("POST", f"/api/v2/multipart/{upload['upload']}/urls", token=alice,
                             body={"parts": [1, 2]}).get_json()["urls"]
        for entry, part in zip(fresh, parts_of(big)):
            assert put(registry, entry, part) == 200
        assert registry.api("POST", f"/api/v2/multipart/{upload['upload']}/complete", token=alice).status_code == 200
    finally:
        registry.state.engine.dispose()


def test_uploads_are_their_pushers_own(v2):
    registry, alice, bob = v2, v2.token("alice"), v2.token("bob")
    big = os.urandom(PART + 1)
    token = start(registry, alice, big).get_json()["upload"]
    for method, path, body in [("GET", "", None), ("POST", "/urls", {"parts": [1]}), ("POST", "/complete", None),
                               ("DELETE", "", None)]:
        assert registry.api(method, f"/api/v2/multipart/{token}{path}", token=bob, body=body).status_code == 404
        assert registry.api(method, f"/api/v2/multipart/{token}{path}", body=body).status_code == 401
    # Bob cannot plan or start uploads for alice's private (or missing) package either.
    assert plan(registry, bob, {"f": b"x"})[0].status_code == 404
    assert start(registry, bob, big).status_code == 404


@pytest.mark.parametrize("body,problem", [
    ({"hash": "a" * 64, "size": PART + 1, "checksums": [b64(b"1"), "x"]}, "of part 2 is not a base64 SHA-256"),
    ({"hash": "a" * 64, "size": PART + 1, "checksums": [b64(b"1")]}, "send one checksum per part"),
    ({"hash": "a" * 64, "size": "12", "checksums": [b64(b"1")]}, "size"),
    ({"hash": "a" * 64, "size": 6 * 1024 ** 4, "checksums": [b64(b"1")]}, "size"),
    ({"hash": "nope", "size": 10, "checksums": [b64(b"1")]}, "hash"),
    ({"hash": "a" * 64, "size": 10, "checksums": [b64(b"1")] * 10_001}, "checksums"),
])
def test_bad_multipart_requests_are_clear_400s(v2, body, problem):
    response = v2.api("POST", "/api/v2/multipart/alice/big", token=v2.token("alice"), body=body)
    assert response.status_code == 400 and problem in str(response.get_json()), response.get_json()


def test_open_uploads_per_pusher_are_bounded(v2, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 2)
    registry, alice = v2, v2.token("alice")
    first, second, third = (os.urandom(PART + n) for n in (1, 2, 3))
    tokens = [start(registry, alice, data).get_json()["upload"] for data in (first, second)]
    refused = start(registry, alice, third)
    assert refused.status_code == 409 and "complete or abort some" in refused.get_json()["message"]
    assert start(registry, alice, first).get_json()["upload"] == tokens[0]  # resuming one still works
    assert registry.api("DELETE", f"/api/v2/multipart/{tokens[1]}", token=alice).status_code == 200
    assert start(registry, alice, third).status_code == 200


def test_part_url_requests_are_bounded(v2):
    registry, alice = v2, v2.token("alice")
    token = start(registry, alice, os.urandom(PART + 1)).get_json()["upload"]
    for parts in ([3], [0], [1, 1], ["1"], [1, 2, 2]):
        response = registry.api("POST", f"/api/v2/multipart/{token}/urls", token=alice, body={"parts": parts})
        assert response.status_code == 400, parts
    assert registry.api("GET", "/api/v2/multipart/not-a-token", token=alice).status_code == 404


def test_abort_and_gc_of_abandoned_uploads(storage_settings):
    settings = with_parts(storage_settings, url_expiry_seconds=2)
    registry = TestRegistry(create_app(settings))
    try:
        registry.create_user("alice")
        alice = registry.token("alice")
        store = registry.state.store
        for left in list(store.pending_multiparts()):  # the bucket is shared with earlier tests
            store.abort_multipart(left.key, left.upload_id)

        def pending() -> int:
            return len(list(store.pending_multiparts()))

        kept, abandoned, aborted = (os.urandom(PART + n) for n in (1, 2, 3))
        upload = start(registry, alice, abandoned).get_json()
        assert put(registry, upload["urls"][0], parts_of(abandoned)[0]) == 200
        gone = start(registry, alice, aborted).get_json()["upload"]
        assert registry.api("DELETE", f"/api/v2/multipart/{gone}", token=alice).status_code == 200
        assert registry.api("GET", f"/api/v2/multipart/{gone}", token=alice).status_code == 404
        assert pending() == 1
        time.sleep(2.5)
        young = start(registry, alice, kept).get_json()["upload"]
        with registry.state.session_factory() as session:
            ctx = Context(session=session, settings=settings, store=registry.state.store,
                          actor=Actor(is_operator=True))
            grace = 2 / 3600  # the shortest gc accepts: the URL lifetime
            assert upkeep.collect_multipart_uploads(ctx, grace_hours=grace, dry_run=True) == 1
            assert pending() == 2
            assert upkeep.collect_multipart_uploads(ctx, grace_hours=grace, dry_run=False) == 1
        assert pending() == 1
        assert registry.api("GET", f"/api/v2/multipart/{upload['upload']}", token=alice).status_code == 404
        assert registry.api("GET", f"/api/v2/multipart/{young}", token=alice).status_code == 200
    finally:
        registry.state.engine.dispose()


def test_a_team_member_uploads_in_parts_into_staging_and_the_push_verifies_it(v2):
    registry, alice, bob = v2, v2.token("alice"), v2.token("bob")
    assert registry.push(alice, "alice", "team", {"README": b"shared"}, is_team=True)[0].status_code == 200
    big = os.urandom(PART + 4321)
    response, contents, blobs = plan(registry, bob, {"README": b"shared", "big.bin": big}, package="alice/team")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["fragments"][sha256(big)]["action"] == "multipart"
    upload = start(registry, bob, big, package="alice/team").get_json()
    urls = {u["number"]: u for u in upload["urls"]}
    for number, part in enumerate(parts_of(big), 1):
        assert put(registry, urls[number], part) == 200
    assert registry.api("POST", f"/api/v2/multipart/{upload['upload']}/complete", token=bob).status_code == 200
    assert sha256(big) in registry.state.store.staged_sizes("alice", "bob")  # bob's own copy, not alice's key
    pushed = commit(registry, bob, contents, blobs, package="alice/team")
    assert pushed.status_code == 200, pushed.get_json()
    assert installed(registry, alice, registry.tophash(contents), package="alice/team") == blobs
