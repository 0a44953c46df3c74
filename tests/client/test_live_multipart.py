"""The SDK's pushes through the push plan against a live registry on both stores: no HEADs, big
files in parts, and a push SIGKILLed halfway through a big file that resumes with the parts
that are missing. Parts are 5 MiB here (the REGISTRY_UPLOAD_PART_BYTES setting), so a 21 MiB
file goes up in five."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import pytest

from registry import Settings
from registry.services.uploads import part_size_for
from registry_client import Package, config
from registry_client.errors import NotFound, TransferError
from registry_client.transfer import RangedFile
from registry_client.uploads import part_sizer
from tests.client.conftest import files_of, sha256

MiB = 1024 ** 2
PART = 5 * MiB


@pytest.fixture
def storage_settings(storage_settings):
    return Settings(**{**storage_settings.__dict__, "upload_part_bytes": PART, "multipart_threshold_bytes": PART})


def part_puts(machine) -> list:
    """The PUTs of parts (S3's partNumber, or the local store's /blobs/multipart/)."""
    return [r for r in machine.sent("PUT") if "partNumber=" in r.url or "/blobs/multipart/" in r.url]


def test_a_big_file_goes_up_in_parts_and_comes_back_whole(machine, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(21 * MiB))
    (source / "small.txt").write_bytes(b"small")
    alice = machine("alice", "alice")
    top_hash = Package().set_dir("", source).push("alice/big", alice.registry, client=alice.client)
    assert {r.method for r in alice.blob_requests} == {"PUT"}  # the plan replaces every HEAD
    assert not alice.client.store.path(sha256(files_of(source)["big.bin"])).exists(), "pushed from where it is"
    assert len(part_puts(alice)) == 5
    assert len(alice.sent("PUT")) == 5 + 1  # the parts and small.txt
    if "/blobs/" not in part_puts(alice)[0].url:  # S3: every part carries the checksum its URL signs
        assert all(r.headers.get("x-amz-checksum-sha256") for r in alice.sent("PUT"))
    # Downloaded in 5 MiB ranges at once; one range was half there from an interrupted install.
    reader = machine("reader", "alice")
    config(client=reader.client, range_mib=5)
    big = sha256(files_of(source)["big.bin"])
    interrupted = RangedFile(reader.client.store.partial_path(big), 21 * MiB, PART)
    interrupted.write(1, files_of(source)["big.bin"][PART:PART + MiB])
    interrupted.close()
    reader.client.store.move_above = 20 * MiB  # big.bin is moved into place, not copied there
    Package.install("alice/big", reader.registry, top_hash=top_hash, dest=tmp_path / "copy", client=reader.client)
    assert files_of(tmp_path / "copy") == files_of(source)
    assert not reader.client.store.path(big).exists()
    ranges = sorted(r.headers["Range"] for r in reader.sent("GET") if big in r.url)
    assert ranges == sorted([f"bytes=0-{PART - 1}", f"bytes={PART + MiB}-{2 * PART - 1}"]
                            + [f"bytes={n * PART}-{min((n + 1) * PART, 21 * MiB) - 1}" for n in (2, 3, 4)])
    assert list(reader.client.store.tmp.iterdir()) == []
    reader.blob_requests.clear()  # installed again: read back from the first copy, its hash checked
    Package.install("alice/big", reader.registry, top_hash=top_hash, dest=tmp_path / "second", client=reader.client)
    assert files_of(tmp_path / "second") == files_of(source) and reader.sent("GET") == []

    # What an interrupted install left was damaged: caught by the hash, fetched again whole.
    damaged = machine("damaged", "alice")
    config(client=damaged.client, range_mib=5)
    bad = RangedFile(damaged.client.store.partial_path(big), 21 * MiB, PART)
    bad.write(0, b"\0" * PART)
    bad.close()
    Package.install("alice/big", damaged.registry, top_hash=top_hash, dest=tmp_path / "again", client=damaged.client)
    assert files_of(tmp_path / "again") == files_of(source)
    assert f"bytes=0-{PART - 1}" in [r.headers["Range"] for r in damaged.sent("GET") if big in r.url]
    assert list(damaged.client.store.tmp.iterdir()) == []

    alice.blob_requests.clear()  # pushed again: the plan says everything is stored
    Package().set_dir("", source).push("alice/big", alice.registry, client=alice.client)
    assert alice.blob_requests == []


KILLED_PUSH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from registry_client import Client, Package, Settings

    home, registry, source = sys.argv[1:4]
    parts = []

    def count(request):  # SIGKILL, like a crash or `kill -9`, once two parts were sent
        if "partNumber=" in request.url or "/blobs/multipart/" in request.url:
            parts.append(request.url)
            if len(parts) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    client = Client(Settings.at(Path(home)), progress="never", workers=1, on_blob_request=count)
    Package().set_dir("", Path(source)).push("alice/resumed", registry, client=client)
""")


def test_a_push_killed_halfway_through_a_big_file_resumes_with_the_missing_parts(machine, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(4 * PART + 1000))
    alice = machine("alice", "alice")
    killed = subprocess.run([sys.executable, "-c", KILLED_PUSH, str(alice.home), alice.registry, str(source)],
                            capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    top_hash = Package().set_dir("", source).push("alice/resumed", alice.registry, client=alice.client)
    assert len(part_puts(alice)) == 5 - 2, "only the parts the killed push had not sent"
    reader = machine("reader", "alice")
    Package.install("alice/resumed", reader.registry, top_hash=top_hash, dest=tmp_path / "copy", client=reader.client)
    assert files_of(tmp_path / "copy") == files_of(source)


def test_a_file_that_changes_while_it_is_pushed_is_refused_not_committed(machine, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    big = source / "big.bin"
    big.write_bytes(os.urandom(4 * PART + 1000))
    alice = machine("alice", "alice")
    parts = []

    def overwrite_after_the_first_part(request):
        if "partNumber=" in request.url or "/blobs/multipart/" in request.url:
            parts.append(request.url)
            if len(parts) == 1:  # same size, other bytes, written in place like an editor would
                with open(big, "r+b") as handle:
                    handle.seek(3 * PART)
                    handle.write(os.urandom(PART))
    alice.client.on_blob_request, alice.client.workers = overwrite_after_the_first_part, 1
    with pytest.raises(TransferError) as refused:
        Package().set_dir("", source).push("alice/changing", alice.registry, client=alice.client)
    assert "changed while it was being pushed" in str(refused.value)
    with pytest.raises(NotFound):
        Package.browse("alice/changing", alice.registry, client=alice.client)
    # Pushed again, the file is hashed anew and goes up as it now is.
    alice.client.on_blob_request = alice.blob_requests.append
    top_hash = Package().set_dir("", source).push("alice/changing", alice.registry, client=alice.client)
    reader = machine("reader", "alice")
    Package.install("alice/changing", reader.registry, top_hash=top_hash, dest=tmp_path / "copy", client=reader.client)
    assert files_of(tmp_path / "copy") == files_of(source)


def test_the_sdk_predicts_the_part_size_the_registry_will_give(machine, storage_settings):
    """A push hashes a big file's parts while it hashes the file, with the part size the plan
    will give it, by the rule /api/limits publishes."""
    sizer = part_sizer((alice := machine("alice", "alice")).client.session(alice.registry))
    context = types.SimpleNamespace(settings=storage_settings)
    assert sizer(PART) is None and sizer(PART + 1) == part_size_for(context, PART + 1) == PART
    for size in (21 * MiB, 10_000 * PART + 1, 7 * 1024 ** 3, 5 * 1024 ** 4):
        assert sizer(size) == part_size_for(context, size), size
