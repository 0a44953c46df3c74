"""On S3 the owner's new fragments go into the push's upload batch, and the real push checks them
with a listing of that batch alone: never the owner's whole `objs/OWNER/` prefix, and no HEAD
per fragment, however much the owner stored before (issue 10). On both databases, real SeaweedFS."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry import Settings, create_app
from registry.models import Blob, Instance
from registry.services import fragment_sets
from registry.services.blobs import Stored
from registry.storage import s3_listing
from registry.storage.s3 import S3BlobStore
from registry.storage.s3_listing import PrefixLister
from tests.conftest import s3_settings
from tests.helpers import TestRegistry, build_tree, linked_hashes_by_instance, sha256, stored_key

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
    list_pages, head_size = PrefixLister.pages, S3BlobStore._head_size

    def listing(lister, prefix):
        seen["listed"].append(prefix)
        return list_pages(lister, prefix)

    def head(store, owner, hash_, batch=None):
        seen["heads"] += 1
        return head_size(store, owner, hash_, batch)

    monkeypatch.setattr(PrefixLister, "pages", listing)
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


def _dry_run(registry, token: str, label: str, count: int) -> tuple[str, dict, dict, dict[str, bytes]]:
    """The dry run of alice's push of `files(label, count)` to the package `label`: the push's
    path and body, the upload URLs answered, and the fragments."""
    contents, data = build_tree(files(label, count))
    path = f"/api/package/alice/{label}/{registry.tophash(contents)}"
    dry = {"dry_run": True, "description": "", "contents": contents, "sizes": {}}
    return path, dry, registry.api("PUT", path, token=token, body=dry, compress=True).get_json()["upload_urls"], data


def test_a_push_run_again_finds_what_it_uploaded_into_its_batch(s3_registry):
    alice = s3_registry.token("alice")
    path, dry, first, blobs = _dry_run(s3_registry, alice, "resume", 20)
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


def _blob_rows(registry, owner: str) -> dict[str, tuple[int, str | None]]:
    with registry.state.session_factory() as session:
        return {h: (size, batch) for h, size, batch in session.execute(
            select(Blob.hash, Blob.size, Blob.batch).where(Blob.owner == owner))}


def test_a_first_push_writes_each_fragment_as_its_batch_holds_it(s3_registry):
    """Every fragment arrived in the batch: the commit writes what it prepared for that case, the
    same rows and fragment set as fragment by fragment; the same files pushed again elsewhere
    reuse those rows."""
    alice = s3_registry.token("alice")
    pushed, top_hash = s3_registry.push(alice, "alice", "first", files("first", 40))
    assert pushed.status_code == 200, pushed.get_json()
    batch = stored_key(s3_registry, "alice", sha256(b"first 0")).split("/")[2]
    expected = {sha256(data): (len(data), batch) for data in files("first", 40).values()}
    assert _blob_rows(s3_registry, "alice") == expected
    with s3_registry.state.session_factory() as session:
        instance = session.scalar(select(Instance.id).where(Instance.hash == top_hash))
        assert fragment_sets.read(session, instance) == {h: Stored(*row) for h, row in expected.items()}
        assert linked_hashes_by_instance(session) == {instance: set(expected)}
    again, _ = s3_registry.push(alice, "alice", "again", files("first", 40))
    assert again.status_code == 200, again.get_json()
    assert _blob_rows(s3_registry, "alice") == expected


def test_a_declared_size_unlike_the_batchs_is_refused(s3_registry):
    alice = s3_registry.token("alice")
    path, dry, urls, data = _dry_run(s3_registry, alice, "sized", 12)
    for digest in sorted(data):
        assert s3_registry.transfer("PUT", urls[digest]["put"], data=data[digest])[0] == 200
    wrong = sorted(data)[3]
    sizes = {h: len(b) + (h == wrong) for h, b in data.items()}
    pushed = s3_registry.api("PUT", path, token=alice, body={**dry, "dry_run": False, "sizes": sizes}, compress=True)
    assert pushed.status_code == 400
    assert pushed.get_json()["message"] == (f"1 fragment(s) differ in size from the push: {wrong} "
                                            f"(stored {len(data[wrong])}, declared {len(data[wrong]) + 1})")
    assert _blob_rows(s3_registry, "alice") == {}


def test_a_fragment_missing_from_the_batch_is_named(s3_registry):
    alice = s3_registry.token("alice")
    path, dry, urls, data = _dry_run(s3_registry, alice, "gap", 12)
    skipped = sorted(data)[5]
    for digest in sorted(data):
        if digest != skipped:
            assert s3_registry.transfer("PUT", urls[digest]["put"], data=data[digest])[0] == 200
    sizes = {h: len(b) for h, b in data.items()}
    pushed = s3_registry.api("PUT", path, token=alice, body={**dry, "dry_run": False, "sizes": sizes}, compress=True)
    assert pushed.status_code == 400
    assert pushed.get_json()["missing"] == [skipped]
    assert _blob_rows(s3_registry, "alice") == {}


@pytest.mark.parametrize("expected", [40, s3_listing.PARALLEL_LISTING + 1])  # one listing, or one per first hex digit
def test_a_batch_listed_over_many_pages_is_listed_whole(s3_registry, monkeypatch, expected):
    alice = s3_registry.token("alice")
    pushed, _ = s3_registry.push(alice, "alice", "paged", files("paged", 40))
    assert pushed.status_code == 200, pushed.get_json()
    monkeypatch.setattr(s3_listing, "MAX_KEYS", "3")  # pages of three keys
    batch = stored_key(s3_registry, "alice", sha256(b"paged 0")).split("/")[2]
    listed = s3_registry.state.store.batch_sizes("alice", batch, expected)
    assert listed == {sha256(data): len(data) for data in files("paged", 40).values()}
