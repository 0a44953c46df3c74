"""A listing page that S3 leaves unanswered past the read timeout, or answers with a 5xx, is asked
for again, up to the store's number of tries (REGISTRY_S3_MAX_ATTEMPTS), as boto3 does for its own
calls; then the store is unavailable (503). A push's check lists its batch in 20 pages or more,
and on 12-07 one slow page of SeaweedFS failed a push of 100,000 fragments with a 503.
Real SeaweedFS behind a proxy that holds back or refuses the chosen requests."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from registry import Settings, create_app
from registry.errors import StorageAccessDenied, StorageUnavailable
from registry.storage.s3 import S3BlobStore
from tests.conftest import s3_settings, s3_store
from tests.helpers import TestRegistry
from tests.support.stalling_proxy import StallingProxy

LISTING = b"list-type=2"
TIMEOUT = 0.5


@pytest.fixture
def proxy(seaweedfs):
    with StallingProxy(urlsplit(seaweedfs.endpoint_url).port) as running:
        yield running


@pytest.fixture
def stored(seaweedfs, s3_bucket) -> dict[str, int]:
    """Three objects under `uploads/alice/b1/`, by name and size."""
    client = seaweedfs.client()
    objects = {f"{n:064x}": n + 1 for n in range(3)}
    for name, size in objects.items():
        client.put_object(Bucket=s3_bucket, Key=f"uploads/alice/b1/{name}", Body=b"x" * size)
    return objects


def store_through(proxy: StallingProxy, seaweedfs, bucket: str, attempts: int) -> S3BlobStore:
    return s3_store(seaweedfs, bucket, endpoint_url=proxy.url, connect_timeout=TIMEOUT, read_timeout=TIMEOUT,
                    max_attempts=attempts)


def test_a_page_left_unanswered_is_asked_for_again(proxy, seaweedfs, s3_bucket, stored, caplog):
    proxy.hold(LISTING)
    store = store_through(proxy, seaweedfs, s3_bucket, attempts=2)
    assert store.batch_sizes("alice", "b1") == stored
    assert proxy.held == 1
    # Operators see it: a store that often needs a second try needs a longer REGISTRY_S3_READ_TIMEOUT.
    assert "S3 listing page of uploads/alice/b1/: ReadTimeout on try 1 of 2; trying again" in caplog.text


@pytest.mark.parametrize("status", [500, 503])
def test_a_page_refused_with_a_server_error_is_asked_for_again(proxy, seaweedfs, s3_bucket, stored, status):
    proxy.answer(LISTING, status)
    store = store_through(proxy, seaweedfs, s3_bucket, attempts=2)
    assert store.batch_sizes("alice", "b1") == stored
    assert proxy.answered == 1


def test_when_every_try_times_out_the_store_is_unavailable(proxy, seaweedfs, s3_bucket, stored):
    proxy.hold(LISTING, times=2)
    store = store_through(proxy, seaweedfs, s3_bucket, attempts=2)
    with pytest.raises(StorageUnavailable, match=r"did not answer \(list\)") as down:
        store.batch_sizes("alice", "b1")
    assert (down.value.status, down.value.code, proxy.held) == (503, "storage_unavailable", 2)


def test_one_try_means_no_second(proxy, seaweedfs, s3_bucket, stored):
    proxy.answer(LISTING, 503)
    store = store_through(proxy, seaweedfs, s3_bucket, attempts=1)
    with pytest.raises(StorageUnavailable, match="refused a listing: HTTP 503"):
        store.batch_sizes("alice", "b1")
    assert proxy.answered == 1


@pytest.mark.parametrize("status, error", [(403, StorageAccessDenied), (400, StorageUnavailable)])
def test_a_refusal_that_another_try_cannot_change_is_not_retried(proxy, seaweedfs, s3_bucket, stored, status, error):
    proxy.answer(LISTING, status, times=2)
    store = store_through(proxy, seaweedfs, s3_bucket, attempts=2)
    with pytest.raises(error) as refused:
        store.batch_sizes("alice", "b1")
    assert refused.value.status == 503 and proxy.answered == 1


def test_a_push_whose_listing_stalls_once_is_committed(proxy, settings, seaweedfs, s3_bucket):
    app = create_app(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket),
                                 "s3_endpoint_url": proxy.url, "s3_read_timeout": 1}))
    registry = TestRegistry(app)
    registry.create_user("alice")
    alice = registry.token("alice")
    try:
        proxy.hold(LISTING)
        pushed, top_hash = registry.push(alice, "alice", "slow", {f"f{i}": f"file {i}".encode() for i in range(20)})
        assert pushed.status_code == 200, pushed.get_json()
        assert proxy.held == 1
        installed = registry.api("GET", f"/api/package/alice/slow/{top_hash}", token=alice)
        assert installed.status_code == 200 and len(installed.get_json()["urls"]) == 20
    finally:
        app.extensions["registry"].engine.dispose()
