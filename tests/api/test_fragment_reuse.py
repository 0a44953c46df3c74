"""A push may reuse only fragments the pusher may read (issue 9, item 3): on both databases and
both blob stores, driven the way the quilt client pushes (dry run, HEAD each, PUT what is
missing, real push)."""

import pytest
from sqlalchemy import select

from registry.models import Blob, ChunkBlob, Instance, InstanceChunk, Package
from tests.helpers import build_tree, sha256, stored_batch

SECRET = b"alice's private figures: 1,2,3\n"
PUBLIC_README = b"# Shared\n"


@pytest.fixture
def alice_and_bob(any_registry):
    """alice has a private package holding SECRET and a team package bob may push to."""
    any_registry.create_user("alice")
    any_registry.create_user("bob")
    alice, bob = any_registry.token("alice"), any_registry.token("bob")
    assert any_registry.push(alice, "alice", "private", {"figures.csv": SECRET})[0].status_code == 200
    assert any_registry.push(alice, "alice", "shared", {"README": PUBLIC_README}, is_team=True)[0].status_code == 200
    return any_registry, alice, bob


def dry_run(registry, token, owner, name, files):
    contents, _ = build_tree(files)
    response = registry.api("PUT", f"/api/package/{owner}/{name}/{registry.tophash(contents)}", token=token,
                            compress=True, body={"dry_run": True, "description": "", "contents": contents,
                                                 "sizes": {}})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["upload_urls"]


def stored_bytes(registry, owner, digest):
    return b"".join(registry.state.store.stream(owner, digest, stored_batch(registry, owner, digest)))


def not_in_storage(digest):
    return {"message": f"1 fragment(s) are not in storage; upload them first: {digest}", "code": "bad_request",
            "status": 400, "missing": [digest]}


def install(registry, token, owner, name, top_hash):
    response = registry.api("GET", f"/api/package/{owner}/{name}/{top_hash}", token=token)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return {h: registry.download(url, body["sizes"][h]) for h, url in body["urls"].items()}


def linked_hashes(registry, owner, name):
    with registry.state.session_factory() as session:
        return set(session.scalars(
            select(Blob.hash).join(ChunkBlob, ChunkBlob.blob_id == Blob.id)
            .join(InstanceChunk, InstanceChunk.chunk_id == ChunkBlob.chunk_id)
            .join(Instance, Instance.id == InstanceChunk.instance_id).join(Package, Package.id == Instance.package_id)
            .where(Package.owner == owner, Package.name == name)))


def test_a_fragment_of_a_package_the_pusher_cannot_read_is_answered_like_a_missing_one(alice_and_bob):
    registry, _, bob = alice_and_bob
    secret, unknown = sha256(SECRET), sha256(b"stored nowhere")
    urls = dry_run(registry, bob, "alice", "shared", {"README": PUBLIC_README, "stolen.csv": SECRET,
                                                      "unknown": b"stored nowhere"})
    # Neither HEAD tells bob that alice holds SECRET: both are his own (empty) staging keys.
    assert registry.transfer("HEAD", urls[secret]["head"])[0] == 404
    assert registry.transfer("HEAD", urls[unknown]["head"])[0] == 404
    assert registry.transfer("HEAD", urls[sha256(PUBLIC_README)]["head"])[0] == 200  # bob can read that one
    stolen, _ = registry.push(bob, "alice", "shared", {"README": PUBLIC_README, "stolen.csv": SECRET}, upload=False)
    missing, _ = registry.push(bob, "alice", "shared", {"README": PUBLIC_README, "x": b"stored nowhere"},
                               upload=False)
    assert (stolen.status_code, stolen.get_json()) == (400, not_in_storage(secret))
    assert (missing.status_code, missing.get_json()) == (400, not_in_storage(unknown))
    assert secret not in linked_hashes(registry, "alice", "shared")


def test_the_pusher_uploads_its_own_copy_and_the_owners_object_stays(alice_and_bob):
    registry, alice, bob = alice_and_bob
    secret = sha256(SECRET)
    files = {"README": PUBLIC_README, "copy.csv": SECRET}
    pushed, top_hash = registry.push(bob, "alice", "shared", files)  # HEAD 404, so it PUTs its own copy
    assert pushed.status_code == 200, pushed.get_json()
    assert stored_bytes(registry, "alice", secret) == SECRET
    assert registry.state.store.staged_sizes("alice", "bob") == {}, "the staged copy was consumed"
    assert install(registry, alice, "alice", "shared", top_hash)[secret] == SECRET
    # Now that it is in a package bob can read, he may name it without uploading it again.
    assert registry.transfer("HEAD", dry_run(registry, bob, "alice", "shared", files)[secret]["head"])[0] == 200
    again, _ = registry.push(bob, "alice", "shared", {**files, "more": b"x"}, upload=False)
    assert again.get_json() == not_in_storage(sha256(b"x"))


def test_a_fragment_new_to_the_owner_is_verified_and_moved_into_place(alice_and_bob):
    registry, alice, bob = alice_and_bob
    data = b"bob's own new data\n"
    pushed, top_hash = registry.push(bob, "alice", "shared", {"new.csv": data})
    assert pushed.status_code == 200, pushed.get_json()
    assert stored_bytes(registry, "alice", sha256(data)) == data
    assert install(registry, alice, "alice", "shared", top_hash) == {sha256(data): data}


def push_unuploaded(registry, token, owner, name, files):
    contents, blobs = build_tree(files)
    return registry.api("PUT", f"/api/package/{owner}/{name}/{registry.tophash(contents)}", token=token,
                        compress=True, body={"dry_run": False, "description": "", "contents": contents,
                                             "sizes": {h: len(b) for h, b in blobs.items()}})


def test_wrong_bytes_of_the_right_size_never_get_the_fragment_linked(alice_and_bob):
    registry, _, bob = alice_and_bob
    secret = sha256(SECRET)
    files = {"stolen.csv": SECRET}
    put = dry_run(registry, bob, "alice", "shared", files)[secret]["put"]
    # Refused as it arrives: the local store hashes every upload, S3 checks the URL's signed checksum.
    assert registry.transfer("PUT", put, data=b"x" * len(SECRET))[0] == 400
    response = push_unuploaded(registry, bob, "alice", "shared", files)
    assert (response.status_code, response.get_json()) == (400, not_in_storage(secret))
    assert registry.state.store.staged_sizes("alice", "bob") == {}, "a rejected upload is not kept"
    assert secret not in linked_hashes(registry, "alice", "shared")
    assert stored_bytes(registry, "alice", secret) == SECRET


def test_without_signed_checksums_wrong_bytes_are_caught_at_commit(settings, seaweedfs, s3_bucket):
    """REGISTRY_S3_SIGNED_CHECKSUMS=false (an S3 that rejects the parameter): S3 takes any bytes
    into staging, and the registry's read-back at commit refuses them."""
    from registry import Settings, create_app
    from tests.conftest import s3_settings
    from tests.helpers import TestRegistry

    app = create_app(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket),
                                 "s3_signed_checksums": False}))
    registry = TestRegistry(app)
    try:
        registry.create_user("alice")
        registry.create_user("bob")
        alice, bob = registry.token("alice"), registry.token("bob")
        assert registry.push(alice, "alice", "shared", {"README": PUBLIC_README}, is_team=True)[0].status_code == 200
        data = b"bob's figures\n"
        digest = sha256(data)
        put = dry_run(registry, bob, "alice", "shared", {"new.csv": data})[digest]["put"]
        assert registry.transfer("PUT", put, data=b"x" * len(data))[0] == 200
        response = push_unuploaded(registry, bob, "alice", "shared", {"new.csv": data})
        assert (response.status_code, response.get_json()) == (400, {
            "message": f"1 uploaded fragment(s) do not match their hash; upload them again: {digest}",
            "code": "bad_request", "status": 400, "mismatched": [digest]})
        assert registry.state.store.staged_sizes("alice", "bob") == {}, "a rejected upload is not kept"
        assert registry.state.store.sizes("alice", [digest]) == {}
    finally:
        app.extensions["registry"].engine.dispose()


def test_the_put_url_of_a_stored_fragment_never_changes_it(alice_and_bob):
    registry, alice, _ = alice_and_bob
    secret = sha256(SECRET)
    files = {"figures.csv": SECRET}
    urls = dry_run(registry, alice, "alice", "private", files)[secret]
    assert registry.transfer("HEAD", urls["head"])[0] == 200
    status, _, _ = registry.transfer("PUT", urls["put"], data=b"y" * len(SECRET))
    # Locally the hash check refuses it; on S3 the URL (to alice's own staging key, not the
    # fragment) carries the fragment's signed checksum, so S3 refuses it too.
    assert status == 400
    assert stored_bytes(registry, "alice", secret) == SECRET
    pushed, top_hash = registry.push(alice, "alice", "private", files, upload=False)
    assert pushed.status_code == 200, pushed.get_json()
    assert stored_bytes(registry, "alice", secret) == SECRET
    assert registry.state.store.staged_sizes("alice", "alice") == {}
    assert install(registry, alice, "alice", "private", top_hash) == {secret: SECRET}


def test_reupload_of_stored_fragments_still_succeeds(alice_and_bob):
    # `quilt push --reupload` PUTs every fragment, stored or not, to the URLs it was given.
    registry, alice, _ = alice_and_bob
    secret = sha256(SECRET)
    files = {"figures.csv": SECRET}
    urls = dry_run(registry, alice, "alice", "private", files)[secret]
    assert registry.transfer("PUT", urls["put"], data=SECRET)[0] == 200
    pushed, _ = registry.push(alice, "alice", "private", files, upload=False)
    assert pushed.status_code == 200, pushed.get_json()
    assert stored_bytes(registry, "alice", secret) == SECRET


def test_a_staged_copy_restores_a_reusable_fragment_whose_bytes_went_missing(alice_and_bob):
    registry, alice, _ = alice_and_bob
    secret = sha256(SECRET)
    registry.state.store.delete("alice", secret, stored_batch(registry, "alice", secret))
    pushed, _ = registry.push(alice, "alice", "private", {"figures.csv": SECRET})  # HEAD 404: it re-uploads
    assert pushed.status_code == 200, pushed.get_json()
    assert stored_bytes(registry, "alice", secret) == SECRET


def test_an_owner_reuses_her_own_fragments_across_packages_without_uploading(alice_and_bob):
    registry, alice, _ = alice_and_bob
    files = {"figures.csv": SECRET, "README": PUBLIC_README}
    urls = dry_run(registry, alice, "alice", "elsewhere", files)
    assert {registry.transfer("HEAD", pair["head"])[0] for pair in urls.values()} == {200}
    pushed, top_hash = registry.push(alice, "alice", "elsewhere", files, upload=False)
    assert pushed.status_code == 200, pushed.get_json()
    assert install(registry, alice, "alice", "elsewhere", top_hash) == {sha256(SECRET): SECRET,
                                                                        sha256(PUBLIC_README): PUBLIC_README}


def test_a_reader_of_a_shared_package_reuses_its_fragments(alice_and_bob):
    registry, alice, bob = alice_and_bob
    assert registry.api("PUT", "/api/access/alice/private/bob", token=alice).status_code == 200
    pushed, _ = registry.push(bob, "alice", "shared", {"figures.csv": SECRET}, upload=False)
    assert pushed.status_code == 200, pushed.get_json()


def test_a_subpackage_push_is_held_to_the_same_rule(alice_and_bob):
    registry, _, bob = alice_and_bob
    secret = sha256(SECRET)
    contents, blobs = build_tree({"stolen.csv": SECRET})
    node = contents["children"]["stolen.csv"]

    def update(dry_run):
        body = {"dry_run": dry_run, "description": "", "contents": node,
                "sizes": {} if dry_run else {h: len(b) for h, b in blobs.items()}}
        return registry.api("POST", "/api/package_update/alice/shared/sub/stolen.csv", token=bob, body=body,
                            compress=True)

    urls = update(dry_run=True).get_json()["upload_urls"][secret]
    assert registry.transfer("HEAD", urls["head"])[0] == 404
    refused = update(dry_run=False)
    assert (refused.status_code, refused.get_json()) == (400, not_in_storage(secret))
    assert registry.transfer("PUT", urls["put"], data=SECRET)[0] == 200
    assert update(dry_run=False).status_code == 200
    assert secret in linked_hashes(registry, "alice", "shared")
    assert stored_bytes(registry, "alice", secret) == SECRET
