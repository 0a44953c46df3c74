"""A staged upload (a pusher's copy of a fragment it may not reuse) is accepted without the
registry reading its bytes when S3 computed its SHA-256 itself (the URL signed the checksum),
and read once otherwise; wrong bytes are never accepted. Real SeaweedFS, both databases."""

from __future__ import annotations

import pytest

from registry import Settings, create_app
from tests.conftest import s3_settings
from tests.helpers import TestRegistry, sha256


@pytest.fixture
def store(settings, seaweedfs, s3_bucket, monkeypatch):
    app = create_app(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket)}))
    store = app.extensions["registry"].store
    store.reads = []
    get_object = store.client.get_object
    monkeypatch.setattr(store.client, "get_object", lambda **kw: store.reads.append(kw["Key"]) or get_object(**kw))
    yield store, TestRegistry(app)
    app.extensions["registry"].engine.dispose()


def test_a_checksummed_staged_upload_is_accepted_unread(store):
    store, registry = store
    data = b"bytes S3 hashed itself"
    assert registry.transfer("PUT", store.staging_url("PUT", "alice", "bob", sha256(data)), data=data)[0] == 200
    assert store.accept_staged("alice", "bob", sha256(data)) is True
    assert store.reads == []
    assert store.read("alice", sha256(data), 100) == data


def test_other_staged_uploads_are_read_and_wrong_bytes_refused(store, seaweedfs, s3_bucket):
    store, _ = store
    right, wrong = b"plain upload", b"not what the name says"
    s3 = seaweedfs.client()
    s3.put_object(Bucket=s3_bucket, Key=f"staging/alice/bob/{sha256(right)}", Body=right)
    s3.put_object(Bucket=s3_bucket, Key=f"staging/alice/bob/{sha256(b'other')}", Body=wrong)
    assert store.accept_staged("alice", "bob", sha256(right)) is True
    assert store.accept_staged("alice", "bob", sha256(b"other")) is False
    assert store.reads == [f"staging/alice/bob/{sha256(right)}", f"staging/alice/bob/{sha256(b'other')}"]
    assert store.staged_sizes("alice", "bob") == {sha256(right): len(right)}  # the wrong one is gone
