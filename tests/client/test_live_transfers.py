"""Downloads against a live registry on both stores: resume with Range, a retry after a dropped
connection, and refusal of bytes that do not match their hash."""

from __future__ import annotations

import os

import pytest
import requests
from sqlalchemy import select

from registry.db import make_engine, make_session_factory
from registry.models import Blob
from registry.storage import object_key
from registry_client import Client, Package, Settings
from registry_client.errors import IntegrityError
from tests.client.conftest import files_of, sha256

BIG = 2_000_000


def overwrite_blob(request, live, owner: str, hash_: str, data: bytes) -> None:
    """Damage a fragment where the registry keeps it: a file of the local store, or an S3 object."""
    if live.settings.storage == "local":
        (live.settings.blob_dir / "objs" / owner / hash_).write_bytes(data)
        return
    engine = make_engine(live.settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            batch = session.scalar(select(Blob.batch).where(Blob.owner == owner, Blob.hash == hash_))
    finally:
        engine.dispose()
    s3 = request.getfixturevalue("seaweedfs").client()
    s3.put_object(Bucket=live.settings.s3_bucket, Key=object_key(owner, hash_, batch), Body=data)


def test_resume_retry_and_hash_refusal(request, machine, live, tmp_path):
    big, small = os.urandom(BIG), b"small file\n"
    source = tmp_path / "source"
    source.mkdir()
    (source / "big.bin").write_bytes(big)
    (source / "small.txt").write_bytes(small)
    alice = machine("alice", "alice")
    Package().set_dir("", source).push("alice/blobs", alice.registry, client=alice.client)

    # An interrupted download left 700 kB in the store's partial file: install asks for the rest.
    resumer = machine("resumer", "alice")
    partial = resumer.client.store.partial_path(sha256(big))
    partial.write_bytes(big[:700_000])
    Package.install("alice/blobs", resumer.registry, dest=tmp_path / "resumed", client=resumer.client)
    assert files_of(tmp_path / "resumed") == files_of(source)
    ranges = {r.url.split("?")[0].rsplit("/", 1)[-1]: r.headers.get("Range") for r in resumer.sent("GET")}
    assert ranges == {sha256(big): "bytes=700000-", sha256(small): "bytes=0-"}
    assert not partial.exists() and resumer.client.store.has(sha256(big))

    # A damaged partial file fails the hash check; the download starts once more from zero.
    damaged = machine("damaged", "alice")
    damaged.client.store.partial_path(sha256(big)).write_bytes(b"\0" * 1000)
    Package.install("alice/blobs", damaged.registry, dest=tmp_path / "again", client=damaged.client)
    assert files_of(tmp_path / "again") == files_of(source)
    assert [r.headers.get("Range") for r in damaged.sent("GET") if sha256(big) in r.url] == [
        "bytes=1000-", "bytes=0-"]

    # A connection dropped on the first attempt is retried.
    attempts = []

    def flaky(sent: requests.PreparedRequest) -> None:
        attempts.append(sent.headers.get("Range"))
        if len(attempts) == 1:
            raise requests.ConnectionError("connection reset by peer (simulated)")

    retrier = Client(Settings.at(tmp_path / "retrier"), progress="never", workers=1, on_blob_request=flaky)
    retrier.settings.save_credentials(alice.registry, alice.client.settings.credentials(alice.registry))
    entry = Package.browse("alice/blobs", alice.registry, client=retrier)["big.bin"]
    assert entry.get_bytes() == big and attempts == ["bytes=0-", "bytes=0-"]

    # Storage serving other bytes under the hash: refused, and nothing kept.
    overwrite_blob(request, live, "alice", sha256(big), os.urandom(BIG))
    victim = machine("victim", "alice")
    with pytest.raises(IntegrityError) as refused:
        Package.install("alice/blobs", victim.registry, dest=tmp_path / "bad", client=victim.client)
    assert sha256(big) in refused.value.message and "does not match its SHA-256" in refused.value.message
    assert "push the package again" in refused.value.hint
    store = victim.client.store
    assert not store.has(sha256(big)) and not store.partial_path(sha256(big)).exists()
    assert not (tmp_path / "bad").exists()
