"""The published quilt 2.9.15 client against a live registry (gunicorn), on both databases and
both blob stores: sign in on /login, `quilt login` with the code, build, push, install on a
second machine, and compare every file."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest

from tests.e2e.commands import ACCOUNTS
from tests.support.live_server import web_login_code
from tests.support.quilt_cli import QuiltClient

pytestmark = pytest.mark.e2e
PASSWORD = ACCOUNTS["alice"][0]  # the live fixture (tests/e2e/conftest.py) creates the accounts


def make_folder(root: Path) -> Path:
    folder = root / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "README.md").write_text("# Demo package\n\nNumbers and bytes.\n")
    (folder / "data.csv").write_bytes(b"id,value\r\n01,\"a, b\"\r\n2,0.30000000000000004\r\n")
    (folder / "raw.bin").write_bytes(os.urandom(300_000))
    (folder / "sub" / "notes.txt").write_text("nested\n")
    (folder / "sub" / "deeper" / "empty.txt").write_bytes(b"")
    return folder


def test_push_and_install_with_the_published_client(live, quilt_venv, tmp_path):
    folder = make_folder(tmp_path)
    publisher = QuiltClient(quilt_venv, tmp_path / "publisher", live.url)
    publisher.login(web_login_code(live.url, "alice", PASSWORD))
    publisher.build_raw("alice/demo", folder)
    pushed = publisher.run("push", "alice/demo")
    assert "Push complete" in pushed.stdout + pushed.stderr

    # A stranger (anonymous) cannot see the private package.
    stranger = QuiltClient(quilt_venv, tmp_path / "stranger", live.url)
    refused = stranger.run("install", "alice/demo", check=False)
    assert refused.returncode != 0
    assert "Package alice/demo does not exist (do you need to log in?)" in refused.stderr

    # Another machine of alice's, signed in through the Python API, installs identical data.
    installer = QuiltClient(quilt_venv, tmp_path / "installer", live.url)
    installer.login_with_token(web_login_code(live.url, "alice", PASSWORD))
    installer.run("install", "alice/demo")
    exported = tmp_path / "exported"
    installer.export("alice/demo", exported)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file()) == files
    match, mismatch, errors = filecmp.cmpfiles(folder, exported, files, shallow=False)
    assert (sorted(match), mismatch, errors) == (files, [], [])


def test_public_package_installs_anonymously_and_subpackages(live, quilt_venv, tmp_path):
    folder = make_folder(tmp_path)
    publisher = QuiltClient(quilt_venv, tmp_path / "publisher", live.url)
    publisher.login(web_login_code(live.url, "alice", PASSWORD))
    publisher.build_raw("alice/open", folder)
    publisher.run("push", "--public", "alice/open")

    reader = QuiltClient(quilt_venv, tmp_path / "reader", live.url)
    reader.run("install", "alice/open/sub")
    exported = tmp_path / "exported"
    reader.export("alice/open/sub", exported)
    assert (exported / "sub" / "notes.txt").read_text() == "nested\n"
    assert (exported / "sub" / "deeper" / "empty.txt").read_bytes() == b""
    # Only the subpackage was downloaded: the big binary is not in the reader's store.
    stored = {p.name for p in (reader.store_dir / "objs").iterdir()}
    import hashlib

    assert hashlib.sha256((folder / "raw.bin").read_bytes()).hexdigest() not in stored
