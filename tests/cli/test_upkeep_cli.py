"""`registry gc`, `blobs verify`, `stats`, `doctor`, on both databases (and both stores where
storage matters)."""

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from registry import create_app
from registry.models import Blob
from tests.helpers import TestRegistry, build_tree, sha256, stored_batch, stored_key

OLD = dt.datetime(2020, 1, 1)


@pytest.fixture
def stored(storage_settings):
    registry = TestRegistry(create_app(storage_settings))
    registry.create_user("alice")
    token = registry.token("alice")
    registry.push(token, "alice", "gone", {"only_here": b"only here", "shared": b"shared"})
    registry.push(token, "alice", "kept", {"shared": b"shared", "third": b"third"})
    yield registry, storage_settings
    registry.state.engine.dispose()


def age_all_blobs(registry):
    with registry.state.session_factory() as session:
        session.execute(update(Blob).values(created_at=OLD, touched_at=None))
        session.commit()


def blob_hashes(registry):
    with registry.state.session_factory() as session:
        return set(session.scalars(select(Blob.hash)))


def test_gc_deletes_only_old_unreferenced_fragments(run, stored):
    registry, settings = stored
    places = {d: stored_batch(registry, "alice", sha256(d)) for d in (b"only here", b"shared")}
    registry.api("DELETE", "/api/package/alice/gone/", token=registry.token("alice"))
    young = run("gc", "--dry-run", settings_override=settings)
    assert young.output.endswith("Would delete 0 fragment(s), 0 bytes.\n")
    age_all_blobs(registry)
    dry = run("gc", "--dry-run", "--json", settings_override=settings)
    assert json.loads(dry.output) == [{"owner": "alice", "fragments": 1, "bytes": 9}]
    assert sha256(b"only here") in blob_hashes(registry)
    assert run("gc", settings_override=settings, input="n\n").exit_code == 1
    done = run("gc", "--yes", settings_override=settings)
    assert done.output.splitlines()[-1] == "Deleted 1 fragment(s), 9 bytes."
    assert blob_hashes(registry) == {sha256(b"shared"), sha256(b"third")}
    store = registry.state.store
    assert {d: store.sizes("alice", [sha256(d)], batch) for d, batch in places.items()} == {
        b"only here": {}, b"shared": {sha256(b"shared"): 6}}


def test_gc_spares_fragments_a_push_in_progress_named(run, stored):
    registry, settings = stored
    registry.api("DELETE", "/api/package/alice/gone/", token=registry.token("alice"))
    age_all_blobs(registry)
    # A dry run names the unreferenced fragment: the client will find it stored and skip uploading it.
    contents, _ = build_tree({"again": b"only here"})
    dry = registry.api("PUT", f"/api/package/alice/again/{registry.tophash(contents)}", token=registry.token("alice"),
                       body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    assert dry.status_code == 200
    assert run("gc", "--yes", "--json", settings_override=settings).output.strip() == "[]"
    assert sha256(b"only here") in blob_hashes(registry)


def test_gc_grace_must_cover_upload_urls(run, settings):
    result = run("gc", "--dry-run", "--grace", "1")
    assert result.exit_code == 1
    assert "at least the upload URL lifetime (24 hours)" in result.output


def _damage(registry, settings, data: bytes, replacement: bytes | None):
    store, digest = registry.state.store, sha256(data)
    if replacement is None:
        store.delete("alice", digest, stored_batch(registry, "alice", digest))
    elif settings.storage == "s3":
        store.client.put_object(Bucket=store.bucket, Key=stored_key(registry, "alice", digest), Body=replacement)
    else:
        store.path("alice", digest).write_bytes(replacement)


def test_blobs_verify_finds_and_records_problems(run, stored):
    registry, settings = stored
    assert run("blobs", "verify", "--deep", settings_override=settings).output == "Every fragment is stored intact.\n"
    _damage(registry, settings, b"only here", None)
    _damage(registry, settings, b"third", b"3rd")
    _damage(registry, settings, b"shared", b"SHARED")  # same size: only --deep can tell
    shallow = run("blobs", "verify", "alice", "--json", settings_override=settings)
    assert shallow.exit_code == 1
    assert {r["problem"] for r in json.loads(shallow.output.split("Error:")[0])} == {"missing", "size"}
    deep = run("blobs", "verify", "--deep", settings_override=settings)
    assert deep.exit_code == 1 and deep.output.endswith("Error: 3 fragment(s) are missing or damaged.\n")
    assert f"corrupt  alice/{sha256(b'shared')}" in deep.output
    with registry.state.session_factory() as session:
        marks = dict(session.execute(select(Blob.hash, Blob.problem)).all())
    assert marks == {sha256(b"only here"): "missing", sha256(b"third"): "size", sha256(b"shared"): "corrupt"}
    assert json.loads(run("stats", "--json", settings_override=settings).output)["flagged_fragments"] == 3


def test_stats(run, stored):
    registry, settings = stored
    figures = json.loads(run("stats", "--json", settings_override=settings).output)
    assert figures == {"users": 1, "packages": 2, "instances": 2, "fragments": 3, "bytes": 9 + 6 + 5,
                       "unreferenced_fragments": 0, "flagged_fragments": 0,
                       "owners": [{"owner": "alice", "packages": 2, "fragments": 3, "bytes": 20}]}
    table = run("stats", settings_override=settings).output
    assert "OWNER  PACKAGES  FRAGMENTS  BYTES" in table and "alice  2         3          20" in table


def test_doctor_passes_on_a_working_setup(run, storage_settings):
    result = run("doctor", settings_override=storage_settings)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["ok"] * 5
    assert "presigned URL round trip: upload and download through signed URLs work" in result.output


def test_doctor_reports_each_failure(run, settings):
    broken = settings.__class__(**{**settings.__dict__, "database_url": "mysql+pymysql://nobody@127.0.0.1:1/none"})
    result = run("doctor", settings_override=broken)
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("ok    secret key") and lines[1].startswith("FAIL  database reachable")
    assert lines[2:] == ["skip  migrations current", "skip  storage reachable", "skip  presigned URL round trip"]


def test_blobs_verify_unverified_checks_each_fragment_once_by_the_stores_own_sha256(run, stored, monkeypatch):
    """Uploads the store did not check (a store ignoring signed checksums) are verified later:
    against the SHA-256 S3 computed on upload where it keeps one, else by reading them."""
    registry, settings = stored
    streamed = []
    original = type(registry.state.store).stream

    def stream(store, owner, hash_, batch=None):
        streamed.append(hash_)
        return original(store, owner, hash_, batch)

    monkeypatch.setattr(type(registry.state.store), "stream", stream)
    assert run("blobs", "verify", "--unverified", settings_override=settings).output == \
        "Every fragment is stored intact.\n"
    assert streamed == []  # every upload's URL signed its checksum (S3), or was hashed on arrival (local)
    with registry.state.session_factory() as session:
        checked = dict(session.execute(select(Blob.hash, Blob.checked_at)).all())
        assert None not in checked.values()
        _damage(registry, settings, b"shared", b"SHARED")  # same size, behind the registry's back
        session.execute(update(Blob).where(Blob.hash == sha256(b"shared")).values(checked_at=None))
        session.commit()
    result = run("blobs", "verify", "--unverified", settings_override=settings)
    if settings.storage == "s3":  # a plain put_object keeps no SHA-256: read and found out
        assert result.exit_code == 1 and f"corrupt  alice/{sha256(b'shared')}" in result.output
        assert streamed == [sha256(b"shared")]
    else:  # the local store keeps only what it hashed on arrival; --deep reads the disk again
        assert result.exit_code == 0 and streamed == []
        assert run("blobs", "verify", "--deep", settings_override=settings).exit_code == 1
    with registry.state.session_factory() as session:
        rechecked = dict(session.execute(select(Blob.hash, Blob.checked_at)).all())
    assert {h for h in checked if rechecked[h] != checked[h]} >= {sha256(b"shared")}
