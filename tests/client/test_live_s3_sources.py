"""Manifest-only publishing with the SDK: `p.set(key, "s3://bucket/key")` has the registry copy the
object inside S3 when the package is pushed; nobody downloads it, and the package installs it
whole elsewhere. A registry on the local store says it cannot."""

from __future__ import annotations

import os

import pytest

from registry import Settings
from registry_client import Client, Package
from registry_client import Settings as ClientSettings
from registry_client.errors import ClientError, UsageError
from tests.client.conftest import files_of, sha256
from tests.helpers import put_s3_object

LAKE = "datalake-sdk-tests"
DATA = b"id,value\n1,2\n"
MiB = 1024 ** 2
COPY_PART = 5 * MiB  # REGISTRY_S3_COPY_PART_BYTES here: 5 GiB in production, S3's largest single copy
BIG = os.urandom(2 * COPY_PART + 12345)


@pytest.fixture
def storage_settings(storage_settings, request):
    if storage_settings.storage == "s3":
        put_s3_object(request.getfixturevalue("seaweedfs"), LAKE, "raw/data.csv", DATA)
        put_s3_object(request.getfixturevalue("seaweedfs"), LAKE, "raw/big.bin", BIG)
    return Settings(**{**storage_settings.__dict__, "s3_import_buckets": LAKE, "s3_copy_part_bytes": COPY_PART})


def test_an_s3_source_is_copied_by_the_registry(machine, live, tmp_path):
    alice = machine("alice", "alice")
    package = Package().set("raw/data.csv", f"s3://{LAKE}/raw/data.csv").set("notes.txt", b"from the lake")
    if live.settings.storage == "local":
        with pytest.raises(ClientError, match="S3"):
            package.push("alice/lake", alice.registry, client=alice.client)
        return
    top_hash = package.push("alice/lake", alice.registry, client=alice.client)
    assert [r.method for r in alice.blob_requests] == ["PUT"]  # notes.txt only: the CSV never left S3
    reader = machine("reader", "alice")
    Package.install("alice/lake", reader.registry, top_hash=top_hash, dest=tmp_path / "copy", client=reader.client)
    assert files_of(tmp_path / "copy") == {"raw/data.csv": DATA, "notes.txt": b"from the lake"}


@pytest.mark.parametrize("storage_settings", ["s3"], indirect=True)  # the local store refuses imports (above)
def test_an_object_too_big_for_one_copy_is_copied_in_parts(machine, live, seaweedfs, tmp_path):
    """Above the copy part size (5 GiB on S3) the registry copies in parts (UploadPartCopy), which
    leaves only a composite checksum: it reads the copy once to hash it, inside the storage network."""
    alice = machine("alice", "alice")
    top_hash = Package().set("raw/big.bin", f"s3://{LAKE}/raw/big.bin").push("alice/biglake", alice.registry,
                                                                               client=alice.client)
    assert alice.blob_requests == [], "the bytes never went through the client"
    reader = machine("reader", "alice")
    Package.install("alice/biglake", reader.registry, top_hash=top_hash, dest=tmp_path / "copy", client=reader.client)
    assert files_of(tmp_path / "copy") == {"raw/big.bin": BIG}
    uploads = seaweedfs.client().list_multipart_uploads(Bucket=live.settings.s3_bucket).get("Uploads", [])
    assert [u for u in uploads if u["Key"].endswith(sha256(BIG))] == [], "the part copies were completed"


def test_a_build_on_this_machine_alone_cannot_hold_an_s3_source(tmp_path):
    with pytest.raises(UsageError, match="copied by the registry when the package is pushed"):
        Package().set("raw.csv", "s3://lake/raw.csv").build("alice/x", client=Client(ClientSettings.at(tmp_path)))
