"""On S3 the owner's new fragments go into the push's upload batch, and the real push checks them
with a listing of that batch alone: never the owner's whole `objs/OWNER/` prefix, and no HEAD
per fragment, however much the owner stored before (issue 10). On both databases, real SeaweedFS."""

from __future__ import annotations

import pytest

from registry import Settings, create_app
from registry.storage.s3 import S3BlobStore
from tests.conftest import s3_settings
from tests.helpers import TestRegistry, build_tree, sha256, stored_key

MANY = 520  # above the 500 at which the old check listed the owner's whole prefix


@pytest.fixture
def s3_registry(settings, seaweedfs, s3_bucket):
    app = create_app(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket)}))
    registry = TestRegistry(app)
    registry.create_user("alice")
    yield registry
    app.extensions["registry"].engine.dispose()


@pytest.fixture
def requests_to_s3(monkeypatch):
    """What the store asks S3 for (recorded, then done for real)."""
    seen = {"listed": [], "heads": 0}
    list_pages, head_size = S3BlobStore._list_pages, S3BlobStore._head_size

    def listing(store, prefix):
        seen["listed"].append(prefix)
        return list_pages(store, prefix)

    def head(store, owner, hash_, batch=None):
        seen["heads"] += 1
        return head_size(store, owner, hash_, batch)

    monkeypatch.setattr(S3BlobStore, "_list_pages", listing)
    monkeypatch.setattr(S3BlobStore, "_head_size", head)
    return seen


def files(label: str, count: int) -> dict[str, bytes]:
    return {f"d{i % 7}/f{i}": f"{label} {i}".encode() for i in range(count)}


def test_the_check_lists_the_push_batch_only_however_much_the_owner_stored(s3_registry, requests_to_s3):
    alice = s3_registry.token("alice")
    for n in range(2):  # history: 1,040 fragments already stored under alice
        assert s3_registry.push(alice, "alice", f"old{n}", files(f"old {n}", MANY))[0].status_code == 200
    requests_to_s3["listed"].clear()
    requests_to_s3["heads"] = 0
    pushed, top_hash = s3_registry.push(alice, "alice", "new", files("new", MANY))
    assert pushed.status_code == 200, pushed.get_json()
    assert requests_to_s3["heads"] == 0
    batch = stored_key(s3_registry, "alice", sha256(b"new 0")).split("/")[2]
    assert all(p.startswith((f"uploads/alice/{batch}/", "staging/alice/alice/")) for p in requests_to_s3["listed"]), \
        requests_to_s3["listed"]
    body = s3_registry.api("GET", f"/api/package/alice/new/{top_hash}", token=alice).get_json()
    some = sha256(b"new 5")
    assert f"/uploads/alice/{batch}/{some}?" in body["urls"][some]
    assert s3_registry.download(body["urls"][some], body["sizes"][some]) == b"new 5"


def test_a_push_run_again_finds_what_it_uploaded_into_its_batch(s3_registry):
    alice = s3_registry.token("alice")
    contents, blobs = build_tree(files("resume", 20))
    path = f"/api/package/alice/resume/{s3_registry.tophash(contents)}"
    dry = {"dry_run": True, "description": "", "contents": contents, "sizes": {}}
    first = s3_registry.api("PUT", path, token=alice, body=dry, compress=True).get_json()["upload_urls"]
    for digest in sorted(first)[:10]:  # half of the uploads, then the client dies
        assert s3_registry.transfer("PUT", first[digest]["put"], data=blobs[digest])[0] == 200
    again = s3_registry.api("PUT", path, token=alice, body=dry, compress=True).get_json()["upload_urls"]
    found = [d for d in again if s3_registry.transfer("HEAD", again[d]["head"])[0] == 200]
    assert sorted(found) == sorted(first)[:10], "the same batch: what was uploaded is found"


def test_a_push_that_never_uploaded_costs_a_bounded_number_of_heads(s3_registry, requests_to_s3):
    alice = s3_registry.token("alice")
    pushed, _ = s3_registry.push(alice, "alice", "lazy", files("never uploaded", MANY), upload=False)
    assert pushed.status_code == 400
    assert pushed.get_json()["message"].startswith(f"{MANY} fragment(s) are not in storage")
    assert requests_to_s3["heads"] <= 500
