"""One contract for every BlobStore, run on the local folder and on real S3 (SeaweedFS):
exactly what the quilt client does with the URLs (protocol.md 8.2-8.3)."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from registry.storage import make_store
from tests.helpers import TestRegistry, sha256

DATA = b"0123456789" * 100


@pytest.fixture
def store_registry(any_registry):
    store = any_registry.state.store.bind("http://localhost")
    return any_registry, store


def tamper(url: str) -> str:
    """Change one character of the signature."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    key = "s" if "s" in query else "X-Amz-Signature"
    query[key] = ("0" if query[key][0] != "0" else "1") + query[key][1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_put_head_get_round_trip(store_registry):
    registry, store = store_registry
    digest = sha256(DATA)
    urls = store.upload_urls("alice", digest)
    assert registry.transfer("HEAD", urls["head"])[0] == 404
    assert registry.transfer("PUT", urls["put"], data=DATA, headers={"Content-Length": str(len(DATA))})[0] == 200
    assert registry.transfer("HEAD", urls["head"])[0] == 200
    status, headers, body = registry.transfer("GET", store.download_url("alice", digest), headers={"Range": "bytes=0-"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 0-999/1000", DATA)
    status, headers, body = registry.transfer("GET", store.download_url("alice", digest), headers={"Range": "bytes=990-"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 990-999/1000", DATA[990:])
    assert store.sizes("alice", [digest, "f" * 64]) == {digest: 1000}
    store.delete("alice", digest)
    assert store.sizes("alice", [digest]) == {}
    store.delete("alice", digest)  # deleting twice is fine


def test_urls_signed_in_one_loop_work_like_single_ones(store_registry):
    """A dry run signs its URLs with `object_urls` / `staging_urls`, many at once: each PUT stores
    its own fragment where a single URL would, and each HEAD then finds it."""
    registry, store = store_registry
    fragments = {sha256(DATA + bytes([i])): DATA + bytes([i]) for i in range(3)}
    digests = sorted(fragments)
    for heads, puts, sizes in (
            (store.object_urls("HEAD", "alice", digests), store.object_urls("PUT", "alice", digests),
             lambda: store.sizes("alice", digests)),
            (store.staging_urls("HEAD", "alice", "bob", digests), store.staging_urls("PUT", "alice", "bob", digests),
             lambda: store.staged_sizes("alice", "bob"))):
        assert len(set(heads)) == len(set(puts)) == 3
        for digest, head, put in zip(digests, heads, puts):
            assert registry.transfer("HEAD", head)[0] == 404
            assert registry.transfer("PUT", put, data=fragments[digest])[0] == 200
            assert registry.transfer("HEAD", head)[0] == 200
        assert sizes() == {d: len(fragments[d]) for d in digests}
    assert store.object_urls("GET", "alice", []) == []


def test_zero_byte_fragments(store_registry):
    registry, store = store_registry
    digest = sha256(b"")
    assert registry.transfer("PUT", store.upload_urls("alice", digest)["put"], data=b"")[0] == 200
    status, _, body = registry.transfer("GET", store.download_url("alice", digest))
    assert (status, body) == (200, b"")
    assert store.sizes("alice", [digest]) == {digest: 0}


def test_tampered_urls_are_refused(store_registry):
    registry, store = store_registry
    digest = sha256(DATA)
    urls = store.upload_urls("alice", digest)
    assert registry.transfer("PUT", tamper(urls["put"]), data=DATA)[0] == 403
    assert registry.transfer("PUT", urls["put"], data=DATA)[0] == 200
    assert registry.transfer("GET", tamper(store.download_url("alice", digest)))[0] == 403
    # A URL signed for one method does not work for another, nor for another key.
    assert registry.transfer("GET", urls["put"])[0] == 403
    assert registry.transfer("PUT", urls["head"], data=DATA)[0] == 403
    other = store.download_url("alice", digest).replace(digest, sha256(b"other"))
    assert registry.transfer("GET", other)[0] == 403


def test_expired_urls_are_refused(storage_settings):
    from registry import Settings, create_app

    app = create_app(Settings(**{**storage_settings.__dict__, "url_expiry_seconds": 1}))
    registry = TestRegistry(app)
    store = registry.state.store.bind("http://localhost")
    digest = sha256(DATA)
    put_url = store.upload_urls("alice", digest)["put"]
    time.sleep(2.1)
    assert registry.transfer("PUT", put_url, data=DATA)[0] == 403
    assert store.sizes("alice", [digest]) == {}
    registry.state.engine.dispose()


def test_many_fragments_are_found_by_listing(store_registry):
    registry, store = store_registry
    payloads = [str(i).encode() for i in range(600)]  # above the S3 store's listing threshold
    for data in payloads:
        assert registry.transfer("PUT", store.upload_urls("bob", sha256(data))["put"], data=data)[0] == 200
    wanted = [sha256(d) for d in payloads] + ["e" * 64]
    assert store.sizes("bob", wanted) == {sha256(d): len(d) for d in payloads}


def test_store_answers_check(store_registry):
    _, store = store_registry
    store.check()


def test_local_upload_with_wrong_bytes_leaves_nothing(registry):
    store = registry.state.store.bind("http://localhost")
    digest = sha256(DATA)
    status, _, body = registry.transfer("PUT", store.upload_urls("alice", digest)["put"], data=b"not the data")
    assert status == 400
    assert f"is not {digest}" in body.decode()
    folder = store.path("alice", digest).parent
    assert list(folder.iterdir()) == []


def test_local_urls_are_signed_for_the_public_url(settings):
    store = make_store(settings.__class__(**{**settings.__dict__, "public_url": "https://data.example.org/"}), "k")
    assert store.bind("http://internal:8000").download_url("a", "b" * 64).startswith(
        "https://data.example.org/blobs/a/" + "b" * 64 + "?m=GET&e=")


def test_s3_urls_are_signed_for_the_public_endpoint(seaweedfs, s3_bucket, settings):
    from tests.conftest import s3_settings

    public = seaweedfs.endpoint_url.replace("127.0.0.1", "localhost")
    store = make_store(settings.__class__(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket),
                                             "s3_public_endpoint_url": public}), "k")
    digest = sha256(DATA)
    put_url = store.upload_urls("alice", digest)["put"]
    assert put_url.startswith(f"{public}/{s3_bucket}/objs/alice/{digest}?")
    import requests

    assert requests.put(put_url, data=DATA, timeout=10).status_code == 200
    # Operations the registry itself performs go to the internal endpoint.
    assert store.sizes("alice", [digest]) == {digest: len(DATA)}


def test_s3_bucket_is_created_when_asked(seaweedfs, settings):
    from tests.conftest import s3_settings

    bucket = "registry-created-on-start"
    store = make_store(settings.__class__(**{**settings.__dict__, **s3_settings(seaweedfs, bucket),
                                             "s3_create_bucket": True}), "k")
    store.check()
    seaweedfs.client().delete_bucket(Bucket=bucket)
