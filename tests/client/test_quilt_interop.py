"""Interoperability both ways with the published quilt 2.9.15 client, through a live registry:
what the SDK pushes, `quilt install`/`export` reproduce byte for byte (metadata included); what
`quilt push` published, the SDK browses and installs. On both databases and both stores."""

from __future__ import annotations

import json

import pytest
import yaml

from registry_client import Package
from tests.client.conftest import PASSWORDS, files_of, make_source
from tests.support.live_server import web_login_code
from tests.support.quilt_cli import QuiltClient

# Prints a Parquet file as CSV the way a quilt user reads it, through pandas. pyarrow 14
# can abort (SIGABRT, "terminate called without an active exception") while its thread
# pools are torn down at interpreter exit, after the work is done (apache/arrow#34314):
# the read runs without threads, and the process leaves with os._exit once stdout is
# flushed, so the exit code says whether the read worked and nothing else.
READ_PARQUET_AS_CSV = """\
import os, sys, pandas
sys.stdout.write(pandas.read_parquet(sys.argv[1], use_threads=False).to_csv(index=False))
sys.stdout.flush()
os._exit(0)
"""

pytestmark = pytest.mark.e2e


def quilt_machine(venv, home, live, user="alice") -> QuiltClient:
    quilt = QuiltClient(venv, home, live.url)
    quilt.login(web_login_code(live.url, user, PASSWORDS[user]))
    return quilt


def test_interoperability_with_quilt(quilt_venv, live, machine, tmp_path):
    # Both directions on one live registry and one signed-in quilt machine: each costs seconds.
    sdk = machine("sdk", "alice")
    quilt = quilt_machine(quilt_venv, tmp_path / "quilt", live)
    sdk_packages_install_with_quilt(sdk, quilt, tmp_path / "to-quilt")
    quilt_packages_open_with_the_sdk(sdk, quilt, tmp_path / "from-quilt")


def sdk_packages_install_with_quilt(sdk, quilt, tmp_path):
    source = make_source(tmp_path)
    (source / "data" / "日本.txt").write_text("a file name quilt cannot make an identifier of\n")

    # A folder gets the same top hash from `quilt build` as from the SDK.
    plain = tmp_path / "plain"
    (plain / "sub").mkdir(parents=True)
    (plain / "README.md").write_text("# Plain\n")
    (plain / "sub" / "raw.bin").write_bytes(b"\x00\x01")
    quilt.build_raw("alice/plain", plain)
    assert Package().set_dir("", plain).build("alice/plain", client=sdk.client) == quilt.local_hash("alice/plain")

    pkg = Package().set_dir("", source).set_meta({"description": "from the SDK"})
    pkg["data/sales.csv"].set_meta({"region": "eu", "rows": 2})
    top_hash = pkg.push("alice/fromsdk", sdk.registry, message="SDK push", client=sdk.client)

    quilt.run("install", "alice/fromsdk")
    assert quilt.local_hash("alice/fromsdk") == top_hash
    quilt.export("alice/fromsdk", tmp_path / "exported")
    assert files_of(tmp_path / "exported") == files_of(source)
    meta = quilt.python("import quilt, json\n"
                        "pkg = quilt.load('alice/fromsdk')\n"
                        "print(json.dumps([pkg._meta, pkg.data.sales._meta, pkg.README._meta['_system']]))")
    package_meta, sales_meta, readme_system = json.loads(meta.stdout)
    assert package_meta == {"description": "from the SDK"}
    assert sales_meta == {"region": "eu", "rows": 2,
                          "_system": {"filepath": "data/sales.csv", "transform": "id", "target": "file"}}
    assert readme_system["filepath"] == "README.md"
    # Subpackages install by their (identifier) node names.
    quilt.run("install", "alice/fromsdk/images", "-f")
    log = quilt.run("log", "alice/fromsdk").stdout
    assert top_hash[:8] in log


def quilt_packages_open_with_the_sdk(sdk, quilt, tmp_path):
    source = make_source(tmp_path)
    (source / "readme_meta.json").write_text('{"audience": "analysts"}')
    build = {"contents": {
        "README": {"file": "README.md", "transform": "id", "meta": "readme_meta.json"},
        "data": {"sales": {"file": "data/sales.csv"},  # a DataFrame, stored as Parquet
                 "info": {"file": "data/info.json", "transform": "id"}},
        "images": {"transform": "id", "a": {"file": "images/a.png"}, "raw": {"b": {"file": "images/raw/b.png"}}}}}
    (source / "build.yml").write_text(yaml.safe_dump(build))
    quilt.run("build", "alice/fromquilt", str(source / "build.yml"))
    quilt.run("push", "alice/fromquilt")
    top_hash = quilt.local_hash("alice/fromquilt")
    pkg = Package.browse("alice/fromquilt", sdk.registry, client=sdk.client)
    assert pkg.top_hash == top_hash
    assert [key for key, _ in pkg.walk()] == ["README.md", "data/info.json", "data/sales.parquet",
                                             "images/a.png", "images/raw/b.png"]
    assert pkg["README.md"].get_meta() == {"audience": "analysts"}
    assert pkg["data/sales.parquet"].target == "pandas"
    Package.install("alice/fromquilt", sdk.registry, dest=tmp_path / "installed", client=sdk.client)
    installed = files_of(tmp_path / "installed")
    for key in ("README.md", "data/info.json", "images/a.png", "images/raw/b.png"):
        assert installed[key] == (source / key).read_bytes()
    frame = quilt.python(READ_PARQUET_AS_CSV, str(tmp_path / "installed" / "data" / "sales.parquet"))
    assert frame.stdout.splitlines() == ["region,amount", 'eu,"1,5"', "us,2"]

    # Changed with the SDK and pushed back: quilt still installs it, DataFrame included.
    pkg.set("data/new.txt", b"added by the SDK\n")
    again = pkg.push("alice/fromquilt", sdk.registry, message="SDK edit", client=sdk.client)
    assert Package.browse("alice/fromquilt", sdk.registry, client=sdk.client).top_hash == again
    quilt.run("install", "alice/fromquilt", "-f")
    quilt.export("alice/fromquilt", tmp_path / "exported")
    exported = files_of(tmp_path / "exported")
    assert exported["data/new.txt"] == b"added by the SDK\n" and exported["images/a.png"] == installed["images/a.png"]
    assert exported["data/sales.csv"].decode().splitlines() == ["region,amount", 'eu,"1,5"', "us,2"]
