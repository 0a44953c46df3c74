"""The SDK without a registry: editing packages, building them into the local store, settings and
credentials files, progress switches."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys

import pytest

from registry_client import Client, Package, PackageDir, Settings, config
from registry_client.errors import NotFound, PathNotFound, UsageError
from registry_client.progress import wanted
from tests.client.conftest import files_of, make_source


@pytest.fixture
def client(tmp_path):
    return Client(Settings.at(tmp_path / "home"), progress="never")


def test_editing_a_package(tmp_path):
    source = make_source(tmp_path)
    p = Package().set_dir("", source).set_dir("copy", source / "images", meta={"note": "dup"})
    assert p.keys() == ["README.md", "copy", "data", "images"]
    assert "images/raw/b.png" in p and "images/raw" in p and "images/nope" not in p
    assert isinstance(p["copy"], PackageDir) and p["copy"].get_meta() == {"note": "dup"}
    assert p["images"]["raw"]["b.png"].size == 1000
    assert p["data/info.json"].get_bytes() == (source / "data/info.json").read_bytes()
    p.set("data/info.json", b"{}", meta={"v": 2})  # replaces the file and its metadata
    assert p["data/info.json"].get_bytes() == b"{}" and p["data/info.json"].get_meta() == {"v": 2}
    p.set("data/again.json", p["data/info.json"])  # an entry can be reused at another key
    p.delete("copy").delete("data/empty.bin")
    assert [key for key, _ in p.walk()] == ["README.md", "data/again.json", "data/info.json", "data/sales.csv",
                                            "images/a.png", "images/raw/b.png"]
    with pytest.raises(KeyError):
        p.delete("data/nope.csv")
    with pytest.raises(KeyError):
        p["nope"]
    with pytest.raises(UsageError, match="is a folder"):
        p.set("data", b"x")
    with pytest.raises(UsageError, match="not a valid logical key"):
        p.set("a/../b", b"x")
    with pytest.raises(UsageError, match="Cannot put a int"):
        p.set("a", 3)
    with pytest.raises(PathNotFound, match="No file at"):
        p.set("a.csv", tmp_path / "source")  # a folder is not a file
    p.set_meta({"a": [1, 2]})
    meta = p.get_meta()
    meta["a"].append(3)  # a copy: the package's metadata does not change behind its back
    assert p.get_meta() == {"a": [1, 2]}


def test_build_and_browse_locally(tmp_path, client):
    source = make_source(tmp_path)
    p = Package().set_dir("", source, meta={"title": "Sales"})
    p["data/sales.csv"].set_meta({"region": "eu"})
    top_hash = p.build("alice/sales", client=client)
    same = Package().set_dir("", source, meta={"title": "Sales"})
    same.set("data/sales.csv", source / "data/sales.csv", meta={"region": "eu"})
    assert same.build("alice/sales", client=client) == top_hash
    assert Package().set_dir("", source).build("alice/other", client=client) != top_hash  # metadata is hashed

    (source / "data" / "sales.csv").write_text("changed after the build\n")  # the store keeps the built bytes
    q = Package.browse("alice/sales", registry="local", client=client)
    assert q.top_hash == top_hash and q.get_meta() == {"title": "Sales"}
    assert q["data/sales.csv"].get_meta() == {"region": "eu"}
    assert q["data/sales.csv"].get_bytes() == b"region,amount\r\neu,\"1,5\"\r\nus,2\r\n"
    assert q["images"].fetch(tmp_path / "out") == tmp_path / "out"
    assert files_of(tmp_path / "out") == files_of(source / "images")
    assert q["data/info.json"].fetch(tmp_path / "out").name == "info.json"  # into a folder, by its name
    with pytest.raises(NotFound, match="not built or installed"):
        Package.browse("alice/nothing", registry="local", client=client)
    with pytest.raises(UsageError, match="not a package name"):
        Package().build("alice/sales-2024", client=client)


def test_config_persists_and_is_checked(tmp_path):
    settings = Settings.at(tmp_path)
    client = Client(settings)
    assert config(client=client)["default_remote_registry"] is None
    config(client=client, default_remote_registry="https://data.example.org/", transfer_workers="4")
    again = Client(Settings.at(tmp_path))  # a new process reads the same file
    assert config(client=again)["default_remote_registry"] == "https://data.example.org"
    assert config(client=again)["transfer_workers"] == 4
    assert again.registry_url(None) == "https://data.example.org"
    for bad in ({"default_remote_registry": "data.example.org"}, {"transfer_workers": 0},
                {"progress": "sometimes"}, {"colour": "blue"}):
        with pytest.raises(UsageError):
            config(client=client, **bad)
    config(client=client, default_remote_registry=None)
    with pytest.raises(UsageError, match="No registry given"):
        client.registry_url(None)


def test_credentials_are_private_and_replaced_whole(tmp_path):
    settings = Settings.at(tmp_path)
    pair = {"refresh_token": "r1", "access_token": "a1", "expires_at": 123}
    settings.save_credentials("https://one.example", pair)
    settings.save_credentials("https://two.example", {**pair, "refresh_token": "r2", "extra": "dropped"})
    assert stat.S_IMODE(settings.credentials_file.stat().st_mode) == 0o600
    assert json.loads(settings.credentials_file.read_text())["https://two.example"] == {
        "refresh_token": "r2", "access_token": "a1", "expires_at": 123}
    settings.save_credentials("https://one.example", None)
    assert settings.credentials("https://one.example") is None
    assert [p.name for p in settings.config_dir.iterdir() if p.name.startswith(".credentials.json")] == []
    settings.credentials_file.write_text("{not json")
    with pytest.raises(UsageError, match="Cannot read"):
        settings.credentials("https://two.example")


def test_settings_come_from_the_environment(tmp_path):
    settings = Settings.from_env({"REGISTRY_CLIENT_CONFIG_DIR": str(tmp_path / "c"),
                                  "REGISTRY_CLIENT_DATA_DIR": str(tmp_path / "d")})
    assert (settings.config_dir, settings.data_dir) == (tmp_path / "c", tmp_path / "d")
    assert Settings.from_env({}).config_dir.name == "registry-client"


def test_progress_only_on_a_terminal_unless_forced():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert wanted("auto", io.StringIO()) is False
    assert wanted("auto", Terminal()) is True
    assert wanted("always", io.StringIO()) is True
    assert wanted("never", Terminal()) is False


def test_the_sdk_imports_nothing_of_the_server():
    probe = ("import sys, registry_client, registry_client.cli\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'registry', 'flask', 'sqlalchemy', 'boto3'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/")
    assert done.stdout.strip() == "[]"
