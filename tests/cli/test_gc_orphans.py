"""`registry gc` also removes stored objects that no fragment row names once they are older than
the grace period (issue 9, item 12): uploads into `objs/` whose push never came, and staged
uploads (`staging/`), on both stores and both databases. On S3 the owner's uploads go into the
push's upload batch (`uploads/`), which gc sweeps the same way."""

import json
import time

import pytest

from registry import Settings, create_app
from tests.helpers import TestRegistry, build_tree, sha256, stored_batch

# Eight seconds, the shortest gc accepts for the upload URLs below. Both gc runs must end within
# it after the young upload (3 s flaked on a loaded machine: the young upload aged past it).
GRACE_HOURS = 8 / 3600
PUSHED, ABANDONED, STAGED, YOUNG = b"pushed", b"abandoned upload", b"staged, never pushed", b"young"


@pytest.fixture
def quick(storage_settings):
    settings = Settings(**{**storage_settings.__dict__, "url_expiry_seconds": 8})  # 1 s flaked: signed at x.9, sent at x+1.1
    registry = TestRegistry(create_app(settings))
    yield registry, settings
    registry.state.engine.dispose()


def upload_without_pushing(registry, token, package, files):
    """Dry run and uploads, as the client does, but no real push."""
    contents, blobs = build_tree(files)
    response = registry.api("PUT", f"/api/package/{package}/{registry.tophash(contents)}", token=token,
                            body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    assert response.status_code == 200, response.get_json()
    for digest, urls in response.get_json()["upload_urls"].items():
        assert registry.transfer("PUT", urls["put"], data=blobs[digest])[0] == 200


def keys(registry, area):
    return sorted(item.key for item in registry.state.store.list_objects(area))


def fragment_names(registry):
    """The hashes stored as fragments: in `objs/` and in upload batches."""
    return sorted(key.rsplit("/", 1)[1] for area in ("objs", "uploads") for key in keys(registry, area))


def test_gc_removes_abandoned_uploads_past_the_grace_period_only(run, quick):
    registry, settings = quick
    registry.create_user("alice")
    registry.create_user("bob")
    alice, bob = registry.token("alice"), registry.token("bob")
    assert registry.push(alice, "alice", "team", {"README": PUSHED}, is_team=True)[0].status_code == 200
    upload_without_pushing(registry, alice, "alice/team", {"a": ABANDONED})
    upload_without_pushing(registry, bob, "alice/team", {"s": STAGED})
    assert keys(registry, "staging") == [f"staging/alice/bob/{sha256(STAGED)}"]
    time.sleep(GRACE_HOURS * 3600 + 1.5)  # S3 keeps whole seconds
    upload_without_pushing(registry, alice, "alice/team", {"y": YOUNG})
    grace = ["--grace", str(GRACE_HOURS)]
    expected = [{"owner": "alice", "fragments": 2, "bytes": len(ABANDONED) + len(STAGED)}]
    dry = run("gc", "--dry-run", "--json", *grace, settings_override=settings)
    assert json.loads(dry.output) == expected
    assert len(fragment_names(registry)) == 3, "a dry run deletes nothing"
    done = run("gc", "--yes", "--json", *grace, settings_override=settings)
    assert json.loads(done.output) == expected
    assert fragment_names(registry) == sorted(sha256(d) for d in (PUSHED, YOUNG))
    assert keys(registry, "staging") == []
    status, _, body = registry.transfer("GET", registry.state.store.download_url(
        "alice", sha256(PUSHED), stored_batch(registry, "alice", sha256(PUSHED))))
    assert (status, body) == (200, PUSHED)


def test_gc_leaves_keys_that_are_not_fragments_alone(run, quick):
    registry, settings = quick
    store = registry.state.store
    if settings.storage == "s3":
        store.client.put_object(Bucket=store.bucket, Key="objs/alice/notes.txt", Body=b"operator's file")
    else:
        (settings.blob_dir / "objs" / "alice").mkdir(parents=True)
        (settings.blob_dir / "objs" / "alice" / "notes.txt").write_bytes(b"operator's file")
    time.sleep(GRACE_HOURS * 3600 + 1.5)
    done = run("gc", "--yes", "--json", "--grace", str(GRACE_HOURS), settings_override=settings)
    assert json.loads(done.output) == []
    assert keys(registry, "objs") == ["objs/alice/notes.txt"]
