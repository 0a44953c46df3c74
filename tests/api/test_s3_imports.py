"""Data already in S3 (issue 11): `POST /api/v2/imports/O/N` copies an object of an allowed bucket
into the owner's fragments inside S3, and a push names it like any stored fragment; the package
keeps its bytes when the source changes. Buckets not allowed (the registry's own above all),
missing objects and other pushers get clear errors; the local store cannot import."""

from __future__ import annotations

import pytest

from registry import Settings, create_app
from tests.helpers import TestRegistry, build_tree, put_s3_object, sha256

LAKE = "datalake-tests"
DATA = b"region,total\neu,12\nus,30\n"


@pytest.fixture
def importing(storage_settings, request):
    settings = Settings(**{**storage_settings.__dict__, "s3_import_buckets": f"{LAKE}, other-lake"})
    if settings.storage == "s3":
        put_s3_object(request.getfixturevalue("seaweedfs"), LAKE, "raw/data.csv", DATA)
    registry = TestRegistry(create_app(settings))
    registry.create_user("alice")
    registry.create_user("bob")
    yield registry, settings
    registry.state.engine.dispose()


def imported(registry, token, source, package="alice/lake"):
    return registry.api("POST", f"/api/v2/imports/{package}", token=token, body={"source": source})


def test_an_s3_object_becomes_a_fragment_of_the_package(importing, request):
    registry, settings = importing
    alice = registry.token("alice")
    response = imported(registry, alice, f"s3://{LAKE}/raw/data.csv")
    if settings.storage == "local":
        assert response.status_code == 400 and "S3" in response.get_json()["message"]
        return
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"hash": sha256(DATA), "size": len(DATA)}
    # The push names it without uploading anything: the plan says it is stored.
    contents, blobs = build_tree({"raw/data.csv": DATA})
    sizes = {h: len(b) for h, b in blobs.items()}
    plan = registry.api("POST", "/api/v2/push-plan/alice/lake", token=alice, body={"fragments": sizes}).get_json()
    assert plan["fragments"] == {sha256(DATA): {"action": "stored"}}
    pushed = registry.api("PUT", f"/api/package/alice/lake/{registry.tophash(contents)}", token=alice,
                          body={"dry_run": False, "description": "", "contents": contents, "sizes": sizes})
    assert pushed.status_code == 200, pushed.get_json()
    # The source changes later; the package does not.
    request.getfixturevalue("seaweedfs").client().put_object(Bucket=LAKE, Key="raw/data.csv", Body=b"changed")
    install = registry.api("GET", f"/api/package/alice/lake/{registry.tophash(contents)}", token=alice).get_json()
    assert registry.download(install["urls"][sha256(DATA)], len(DATA)) == DATA


@pytest.mark.parametrize("source,status,words", [
    ("s3://registry-tests/objs/bob/" + "a" * 64, 403, "bucket registry-tests"),  # the registry's own bucket
    ("s3://elsewhere/raw/data.csv", 403, "bucket elsewhere"),
    (f"s3://{LAKE}/raw/missing.csv", 404, f"s3://{LAKE}/raw/missing.csv"),
    ("https://example.org/data.csv", 400, "s3://BUCKET/KEY"),
    (f"s3://{LAKE}/", 400, "s3://BUCKET/KEY"),
])
def test_what_cannot_be_imported_gets_a_clear_error(importing, source, status, words):
    registry, settings = importing
    response = imported(registry, registry.token("alice"), source)
    if settings.storage == "local" and status == 404:
        status, words = 400, "S3"
    assert response.status_code == status and words in response.get_json()["message"], response.get_json()


def test_only_the_owner_imports(importing):
    registry, _ = importing
    assert imported(registry, registry.token("bob"), f"s3://{LAKE}/raw/data.csv").status_code == 404
    assert imported(registry, None, f"s3://{LAKE}/raw/data.csv").status_code == 401
