"""The SDK's whole API against a live registry, on SQLite and MariaDB, the local store and S3."""

from __future__ import annotations

import json

import pytest

from registry_client import (Package, PackageDir, add_tag, add_version, config, list_packages, list_tags,
                             list_versions, log, remove_tag, search)
from registry_client.entries import Origin
from registry_client.errors import NotFound, UsageError
from tests.client.conftest import files_of, make_source, sha256


def test_push_browse_fetch_install_and_history(machine, tmp_path):
    source = make_source(tmp_path)
    alice = machine("alice", "alice")
    config(client=alice.client, default_remote_registry=alice.registry)  # then registry= can be omitted

    p = Package()
    p.set_dir("images/", source / "images", meta={"kind": "pictures"})
    p.set("data/sales.csv", source / "data" / "sales.csv", meta={"region": "eu"})
    p.set("data/info.json", source / "data" / "info.json")
    p.set("data/empty.bin", b"")
    p.set("data/old.csv", b"obsolete")
    p.set("README.md", (source / "README.md").read_bytes())
    p.delete("data/old.csv")
    p.set_meta({"description": "Q3 sales"})
    assert p.keys() == ["README.md", "data", "images"]
    assert isinstance(p["data"], PackageDir) and p["data"]["sales.csv"].get_meta() == {"region": "eu"}
    assert [key for key, _ in p.walk()] == ["README.md", "data/empty.bin", "data/info.json", "data/sales.csv",
                                            "images/a.png", "images/raw/b.png"]

    built = p.build("alice/sales", client=alice.client)  # the local store only: the registry has nothing
    with pytest.raises(NotFound, match="does not exist"):
        Package.browse("alice/sales", client=alice.client)
    assert Package.browse("alice/sales", registry="local", client=alice.client).top_hash == built

    first = p.push("alice/sales", message="Add Q3 data", client=alice.client)
    assert first == built
    # Only PUTs to storage (the push plan says what is stored: no HEADs), never the registry's
    # Authorization, sized, untyped, each with the checksum its URL signs (on S3).
    assert {r.method for r in alice.blob_requests} == {"PUT"}
    assert not any("Authorization" in r.headers for r in alice.blob_requests)
    for put in alice.sent("PUT"):
        assert "Content-Type" not in put.headers and put.headers["Content-Length"].isdigit()
    assert len(alice.sent("PUT")) == 6 + 3  # six files, three metadata fragments

    # A second push with one more file sends only that file's bytes.
    alice.blob_requests.clear()
    second = p.set("data/extra.txt", b"more").push("alice/sales", message="More", client=alice.client)
    assert [put.headers["Content-Length"] for put in alice.sent("PUT")] == ["4"]

    history = log("alice/sales", client=alice.client)
    assert [(e["hash"], e["author"], e["message"]) for e in history] == [
        (first, "alice", "Add Q3 data"), (second, "alice", "More")]
    assert history[-1]["tags"] == ["latest"]
    assert add_version("alice/sales", "1.0", first[:8], client=alice.client) == first
    add_tag("alice/sales", "stable", first[:10], client=alice.client)
    assert list_tags("alice/sales", client=alice.client) == {"latest": second, "stable": first}
    assert list_versions("alice/sales", client=alice.client) == {"1.0": first}

    # Another machine browses: the manifest and metadata only, no file data.
    reader = machine("reader", "alice")
    q = Package.browse("alice/sales", registry=reader.registry, tag="stable", client=reader.client)
    assert q.top_hash == first
    assert q.get_meta() == {"description": "Q3 sales"}
    assert q["images"].get_meta() == {"kind": "pictures"}
    assert q["data/sales.csv"].get_meta() == {"region": "eu"}
    assert q["images/a.png"].size == 300_000 and q["data/empty.bin"].size == 0
    assert len(reader.sent("GET")) == 3  # the three metadata fragments
    assert q["data/sales.csv"].fetch(tmp_path / "out.csv").read_bytes() == (source / "data/sales.csv").read_bytes()
    assert files_of(q["images"].fetch(tmp_path / "imgs")) == files_of(source / "images")
    assert q["data/info.json"].deserialize() == {"rows": 2, "currency": "EUR"}
    assert q["README.md"].deserialize().startswith("# Sales")
    with pytest.raises(UsageError, match="pandas"):  # not installed here: a clear message, not an ImportError
        q["data/sales.csv"].deserialize()
    for revision in ({"version": "1.0"}, {"top_hash": first[:12]}, {"top_hash": first}):
        assert Package.browse("alice/sales", reader.registry, client=reader.client, **revision).top_hash == first
    assert Package.browse("alice/sales", reader.registry, client=reader.client).top_hash == second

    # Install writes every file; a second install downloads nothing already in the store.
    installer = machine("installer", "alice")
    Package.install("alice/sales", registry=installer.registry, dest=tmp_path / "v1", version="1.0",
                    client=installer.client)
    assert files_of(tmp_path / "v1") == files_of(source)
    fetched = len(installer.sent("GET"))
    assert fetched == 6 + 3  # files and metadata fragments; only the empty file without a Range
    assert [r.headers.get("Range") for r in installer.sent("GET")].count(None) == 1
    Package.install("alice/sales", registry=installer.registry, dest=tmp_path / "v2", client=installer.client)
    assert files_of(tmp_path / "v2") == {**files_of(source), "data/extra.txt": b"more"}
    assert len(installer.sent("GET")) == fetched + 1  # only data/extra.txt
    assert Package.browse("alice/sales", registry="local", client=installer.client).top_hash == second
    assert sha256(b"more") in {e.hash for _, e in Package.browse("alice/sales", registry="local",
                                                                 client=installer.client).walk()}

    # URLs past their reuse window (or never seen) come from POST /api/get_objects.
    late = machine("late", "alice")
    Origin(late.client, late.registry, "alice/sales", second, {}, {}).ensure_local({sha256(b"more")})
    assert late.client.store.path(sha256(b"more")).read_bytes() == b"more"

    remove_tag("alice/sales", "stable", client=alice.client)
    assert list_tags("alice/sales", client=alice.client) == {"latest": second}
    assert [item["name"] for item in search("sales", client=alice.client)] == ["sales"]
    assert search("nothing-like-this", client=alice.client) == []
    assert list_packages(client=alice.client) == ["alice/sales"]
    assert list_packages(owner="alice", client=alice.client) == ["alice/sales"]


def pushes_by_endpoint(live) -> list[str]:
    """The push requests the registry answered, in order: whole trees or changes."""
    lines = [json.loads(line) for line in live.log().splitlines() if line.startswith("{")]
    return [line["endpoint"].split(".")[-1] for line in lines
            if line.get("endpoint") in ("packages.push_package", "packages.push_changes") and line["status"] == 200]


def test_a_push_from_a_machine_that_has_latest_sends_only_the_changes(machine, live, tmp_path):
    source = make_source(tmp_path)
    alice = machine("alice", "alice")
    p = Package()
    p.set_dir("data/", source / "data")
    p.set("README.md", source / "README.md")
    first = p.push("alice/sales", alice.registry, client=alice.client)

    p.set("data/sales.csv", b"region,amount\neu,3\n").delete("data/empty.bin").set("new/deep/notes.txt", b"notes")
    p["data/info.json"].set_meta({"checked": True})
    alice.blob_requests.clear()
    second = p.push("alice/sales", alice.registry, message="Changes only", client=alice.client)
    assert pushes_by_endpoint(live) == ["push_package", "push_changes"]
    assert sorted(int(put.headers["Content-Length"]) for put in alice.sent("PUT")) == [5, 16, 19]  # new only

    reader = machine("reader", "alice")
    q = Package.browse("alice/sales", reader.registry, client=reader.client)
    assert (q.top_hash, q.keys()) == (second, ["README.md", "data", "new"])
    assert [key for key, _ in q.walk()] == ["README.md", "data/info.json", "data/sales.csv", "new/deep/notes.txt"]
    assert q["data/sales.csv"].fetch(tmp_path / "s.csv").read_bytes() == b"region,amount\neu,3\n"
    assert q["data/info.json"].get_meta() == {"checked": True}
    assert log("alice/sales", alice.registry, client=alice.client)[-1]["message"] == "Changes only"
    assert first != second

    # A package edited from what was browsed goes as changes too, from any machine; a change of the
    # package's own metadata goes whole.
    q.set("README.md", b"# Sales, edited\n")
    third = q.push("alice/sales", reader.registry, client=reader.client)
    q.set_meta({"description": "new"})
    fourth = q.push("alice/sales", reader.registry, client=reader.client)
    assert pushes_by_endpoint(live) == ["push_package", "push_changes", "push_changes", "push_package"]
    assert Package.browse("alice/sales", alice.registry, client=alice.client).top_hash == fourth != third
