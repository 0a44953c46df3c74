"""PUT URLs on S3 sign the fragment's SHA-256 as the query parameter `x-amz-checksum-sha256`, so
the store itself (real SeaweedFS here) refuses any bytes but the fragment's, while a plain PUT
of the right bytes, as the quilt client sends it (no checksum header), succeeds."""

import base64
import hashlib
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from registry import Settings
from registry.storage import make_store
from tests.conftest import s3_settings
from tests.helpers import TestRegistry, build_tree, sha256

DATA = b"0123456789" * 100
OTHER = b"9876543210" * 100  # the same size, other bytes


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def s3_store(settings, seaweedfs, bucket, **overrides):
    return make_store(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, bucket), **overrides}), "k")


@pytest.fixture
def store(settings, seaweedfs, s3_bucket):
    return s3_store(settings, seaweedfs, s3_bucket)


def stored(store, owner, digest) -> bytes:
    return b"".join(store.stream(owner, digest))


def test_a_put_url_names_the_fragments_checksum_in_its_signed_query(store):
    digest = sha256(DATA)
    urls = store.upload_urls("alice", digest)
    query = parse_qs(urlsplit(urls["put"]).query)
    assert query["x-amz-checksum-sha256"] == [checksum(DATA)]
    assert query["X-Amz-SignedHeaders"] == ["host"]  # nothing the client would have to send
    assert "x-amz-checksum-sha256" not in parse_qs(urlsplit(urls["head"]).query)
    assert "x-amz-checksum-sha256" not in parse_qs(urlsplit(store.download_url("alice", digest)).query)
    staged = parse_qs(urlsplit(store.staging_url("PUT", "alice", "bob", digest)).query)
    assert staged["x-amz-checksum-sha256"] == [checksum(DATA)]


@pytest.mark.parametrize("url_for", [lambda store, d: store.upload_urls("alice", d)["put"],
                                     lambda store, d: store.staging_url("PUT", "alice", "bob", d)],
                         ids=["object", "staging"])
def test_a_put_url_takes_the_right_bytes_and_refuses_others(store, url_for):
    digest = sha256(DATA)
    put = url_for(store, digest)
    key = urlsplit(put).path.split("/", 2)[2]
    refused = requests.put(put, data=OTHER, timeout=10)
    assert refused.status_code == 400
    assert "<Code>BadDigest</Code>" in refused.text
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=key).get("KeyCount") == 0
    assert requests.put(put, data=DATA, timeout=10).status_code == 200  # no checksum header, as quilt sends it
    # The URL stays valid for a day: later, too, it can only write the same bytes again.
    assert requests.put(put, data=OTHER, timeout=10).status_code == 400
    assert store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read() == DATA


def test_a_tampered_or_removed_checksum_parameter_is_refused(store):
    digest = sha256(DATA)
    put = store.upload_urls("alice", digest)["put"]
    assert requests.put(put, data=DATA, timeout=10).status_code == 200
    ours = f"x-amz-checksum-sha256={quote(checksum(DATA), safe='')}"
    assert ours in put
    swapped = put.replace(ours, f"x-amz-checksum-sha256={quote(checksum(OTHER), safe='')}")
    assert requests.put(swapped, data=OTHER, timeout=10).status_code == 403
    removed = put.replace(f"&{ours}", "")
    assert requests.put(removed, data=OTHER, timeout=10).status_code == 403
    assert stored(store, "alice", digest) == DATA


def test_with_the_setting_off_urls_have_the_old_shape(settings, seaweedfs, s3_bucket):
    assert Settings.from_env({"REGISTRY_S3_SIGNED_CHECKSUMS": "false"}).s3_signed_checksums is False
    assert Settings().s3_signed_checksums is True
    store = s3_store(settings, seaweedfs, s3_bucket, s3_signed_checksums=False)
    digest = sha256(DATA)
    put = store.upload_urls("alice", digest)["put"]
    assert sorted(parse_qs(urlsplit(put).query)) == ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                                     "X-Amz-Expires", "X-Amz-Signature", "X-Amz-SignedHeaders"]
    assert "x-amz-checksum-sha256" not in store.staging_url("PUT", "alice", "bob", digest)
    # Today's behaviour: the store takes whatever bytes come.
    assert requests.put(put, data=OTHER, timeout=10).status_code == 200
    assert stored(store, "alice", digest) == OTHER


def test_the_owners_dry_run_url_cannot_overwrite_a_fragment_stored_since(any_registry):
    """alice's dry run hands her a PUT URL straight to the fragment's key (objs/alice/HASH on the
    local store, her push's upload batch on S3; nothing is stored there yet); bob, on her team
    package, then uploads the fragment, verified and moved to objs/alice/HASH. Her URL, still
    valid, must not replace it with other bytes."""
    registry: TestRegistry = any_registry
    registry.create_user("alice")
    registry.create_user("bob")
    alice, bob = registry.token("alice"), registry.token("bob")
    assert registry.push(alice, "alice", "team", {"README": b"# Team\n"}, is_team=True)[0].status_code == 200
    digest = sha256(DATA)
    files = {"README": b"# Team\n", "data.bin": DATA}
    contents, _ = build_tree(files)
    answer = registry.api("PUT", f"/api/package/alice/team/{registry.tophash(contents)}", token=alice, compress=True,
                          body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    alices_put = answer.get_json()["upload_urls"][digest]["put"]
    assert "/uploads/alice/" in alices_put or "/blobs/alice/" in alices_put  # straight to the fragment's key
    pushed, top_hash = registry.push(bob, "alice", "team", files)
    assert pushed.status_code == 200, pushed.get_json()
    store = registry.state.store
    assert stored(store, "alice", digest) == DATA

    status, _, _ = registry.transfer("PUT", alices_put, data=OTHER)
    assert status == 400  # locally the registry hashes the upload; on S3 the store checks the signed checksum
    assert stored(store, "alice", digest) == DATA
    response = registry.api("GET", f"/api/package/alice/team/{top_hash}", token=alice)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert registry.download(body["urls"][digest], body["sizes"][digest]) == DATA
