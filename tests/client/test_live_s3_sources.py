"""Manifest-only publishing with the SDK: `p.set(key, "s3://bucket/key")` has the registry copy the
object inside S3 when the package is pushed; nobody downloads it, and the package installs it
whole elsewhere. A registry on the local store says it cannot."""

from __future__ import annotations

import pytest

from registry import Settings
from registry_client import Client, Package
from registry_client import Settings as ClientSettings
from registry_client.errors import ClientError, UsageError
from tests.client.conftest import files_of
from tests.helpers import put_s3_object

LAKE = "datalake-sdk-tests"
DATA = b"id,value\n1,2\n"


@pytest.fixture
def storage_settings(storage_settings, request):
    if storage_settings.storage == "s3":
        put_s3_object(request.getfixturevalue("seaweedfs"), LAKE, "raw/data.csv", DATA)
    return Settings(**{**storage_settings.__dict__, "s3_import_buckets": LAKE})


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


def test_a_build_on_this_machine_alone_cannot_hold_an_s3_source(tmp_path):
    with pytest.raises(UsageError, match="copied by the registry when the package is pushed"):
        Package().set("raw.csv", "s3://lake/raw.csv").build("alice/x", client=Client(ClientSettings.at(tmp_path)))
