"""Data already in S3 (issue 11): `POST /api/v2/imports/O/N` copies an object of an allowed bucket
into the owner's fragments inside S3, and a push names it like any stored fragment; the package
keeps its bytes when the source changes. Buckets not allowed (the registry's own above all),
missing objects and other pushers get clear errors; the local store cannot import."""

from __future__ import annotations

import base64
import os

import pytest

from registry import Settings, create_app
from tests.helpers import TestRegistry, build_tree, put_s3_object, sha256

LAKE = "datalake-tests"
DATA = b"region,total\neu,12\nus,30\n"
COPY_PART = 5 * 1024 ** 2  # REGISTRY_S3_COPY_PART_BYTES here (5 GiB, S3's largest single copy, by default)


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


@pytest.mark.parametrize("storage_settings", ["s3"], indirect=True)  # the local store imports nothing (above)
def test_a_source_above_one_copy_goes_in_parts_and_one_that_changes_meanwhile_is_refused(storage_settings, request):
    seaweedfs = request.getfixturevalue("seaweedfs")
    big = os.urandom(2 * COPY_PART + 4321)
    put_s3_object(seaweedfs, LAKE, "raw/big.bin", big)
    settings = Settings(**{**storage_settings.__dict__, "s3_import_buckets": LAKE, "s3_copy_part_bytes": COPY_PART})
    registry = TestRegistry(create_app(settings))
    registry.create_user("alice")
    alice = registry.token("alice")
    store = registry.state.store
    copied_parts = []
    copy_part = store._importer.copier.upload_part_copy

    def counting(**kwargs):
        copied_parts.append(kwargs["CopySourceRange"])
        return copy_part(**kwargs)
    store._importer.copier.upload_part_copy = counting
    response = imported(registry, alice, f"s3://{LAKE}/raw/big.bin")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"hash": sha256(big), "size": len(big)}
    assert copied_parts == [f"bytes={n * COPY_PART}-{min((n + 1) * COPY_PART, len(big)) - 1}" for n in range(3)]
    assert imported(registry, alice, f"s3://{LAKE}/raw/big.bin").status_code == 200
    assert len(copied_parts) == 3, "imported again: read and found stored, nothing copied"

    # Another writer replaces the source once the registry has read it, before its parts are
    # copied: every part copy is conditional on the ETag it read, so none mixes in new bytes.
    replaced = []

    def replaced_first(**kwargs):
        if not replaced:
            replaced.append(seaweedfs.client().put_object(Bucket=LAKE, Key="raw/big.bin", Body=os.urandom(len(big))))
        return copy_part(**kwargs)
    store._importer.copier.upload_part_copy = replaced_first
    put_s3_object(seaweedfs, LAKE, "raw/big.bin", big[::-1])  # other bytes: not stored yet
    response = imported(registry, alice, f"s3://{LAKE}/raw/big.bin")
    assert response.status_code == 409 and "changed" in response.get_json()["message"], response.get_json()
    client = seaweedfs.client()
    assert client.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", []) == []
    assert [o["Key"] for o in client.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])] == [
        f"objs/alice/{sha256(big)}"], "only the first import's fragment: nothing of the refused one"

    # A copied part whose SHA-256 (as S3 computed it) is not the one read: an object swapped for
    # one with the same ETag (an MD5 collision), which no real write here can make, so S3's
    # answer is altered. The upload is aborted, never completed.
    def other_bytes(**kwargs):
        answer = copy_part(**kwargs)
        if kwargs["PartNumber"] == 2:
            answer["CopyPartResult"]["ChecksumSHA256"] = base64.b64encode(b"\0" * 32).decode()
        return answer
    store._importer.copier.upload_part_copy = other_bytes
    response = imported(registry, alice, f"s3://{LAKE}/raw/big.bin")
    assert response.status_code == 409 and "a copied part is not what was read" in response.get_json()["message"]
    assert client.list_multipart_uploads(Bucket=settings.s3_bucket).get("Uploads", []) == []
    assert [o["Key"] for o in client.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])] == [
        f"objs/alice/{sha256(big)}"]
    registry.state.engine.dispose()
