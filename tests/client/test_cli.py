"""The `registry-client` command against a live registry, run as a user runs it (a subprocess with
its own config and data folders), on both databases and both stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from registry_client import Client, Package, Settings
from tests.client.conftest import PASSWORDS, files_of, make_source
from tests.support.live_server import web_login_code


class Shell:
    def __init__(self, home: Path):
        self.home = home
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "NO_PROXY": "127.0.0.1,localhost",
                    "REGISTRY_CLIENT_CONFIG_DIR": str(home / "config"),
                    "REGISTRY_CLIENT_DATA_DIR": str(home / "data")}

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "registry_client", *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert (done.returncode == 0) == ok, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)


def test_command_line(live, tmp_path):
    source = make_source(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    sh = Shell(home)

    signed_in = sh.run("login", live.url, "--code", web_login_code(live.url, "alice", PASSWORDS["alice"]))
    assert f"Signed in to {live.url}" in signed_in.stdout
    assert sh.json("config")["default_remote_registry"] == live.url  # the first login sets the default

    first = sh.json("push", "alice/cli", str(source), "-m", "First", "--meta", '{"owner": "sales"}')["top_hash"]
    assert sh.run("push", "alice/cli", str(source), "-m", "Again").stderr == ""  # no bars off a terminal
    (source / "data" / "more.txt").write_text("more\n")
    pushed = sh.run("push", "alice/cli", str(source), "-m", "Second", "--meta", '{"quarter": 3}',
                    "--progress", "always")
    assert "Pushing alice/cli" in pushed.stderr and "100%" in pushed.stderr and "Files" in pushed.stderr
    second = pushed.stdout.split()[2]

    listing = sh.run("ls", "alice/cli").stdout
    assert listing.splitlines()[0] == f"alice/cli {second}"
    assert 'metadata: {"quarter": 3}' in listing and "293.0 KiB  images/a.png" in listing
    browsed = sh.json("browse", "alice/cli", "data", "--hash", first[:8])
    assert browsed["top_hash"] == first
    assert [e["key"] for e in browsed["entries"]] == ["data/empty.bin", "data/info.json", "data/sales.csv"]

    # Installing where the fragments are already stored downloads nothing; elsewhere, with bars.
    assert sh.run("install", "alice/cli", "-d", "here", "--progress", "always").stderr == ""
    assert files_of(home / "here") == files_of(source)
    laptop = Shell(tmp_path / "laptop")
    laptop.home.mkdir()
    laptop.run("login", live.url, "--code", web_login_code(live.url, "alice", PASSWORDS["alice"]))
    installed = laptop.run("install", "alice/cli", "-d", "out", "--progress", "always", "--workers", "3")
    assert "Downloading alice/cli" in installed.stderr and "100%" in installed.stderr and "Files" in installed.stderr
    assert files_of(laptop.home / "out") == files_of(source)
    assert f"Installed alice/cli {second} (7 files) into out" in installed.stdout

    assert [e["message"] for e in sh.json("log", "alice/cli")] == ["First", "Again", "Second"]
    assert sh.run("log", "alice/cli").stdout.splitlines()[1] == "    Second"
    assert sh.json("tag", "add", "alice/cli", "stable", first[:8]) == {"tag": "stable", "hash": first}
    assert sh.json("tag", "list", "alice/cli") == {"latest": second, "stable": first}
    sh.run("tag", "remove", "alice/cli", "stable")
    sh.run("version", "add", "alice/cli", "1.0", first)
    assert sh.run("version", "list", "alice/cli").stdout == f"1.0: {first}\n"
    assert sh.json("install", "alice/cli", "-v", "1.0", "-d", "v1")["top_hash"] == first
    assert sh.run("access", "add", "alice/cli", "bob").stdout == "Access added for bob\n"
    assert sh.json("access", "list", "alice/cli") == ["alice", "bob"]
    sh.run("access", "remove", "alice/cli", "bob")
    assert sh.run("search", "sales").stdout == "alice/cli\n"
    assert sh.run("search", "nothing_like_it").stdout == "(No results)\n"
    assert sh.json("list") == ["alice/cli"]
    # A package built in Python on this machine pushes without a folder.
    Package().set("notes.txt", b"built in Python\n").build("alice/built", client=Client(Settings.at(home)))
    assert sh.run("push", "alice/built").stdout.startswith("Pushed alice/built ")
    assert sh.json("ls", "alice/built")["entries"][0]["key"] == "notes.txt"
    assert sh.json("list") == ["alice/built", "alice/cli"]

    # Mistakes: two plain lines (what happened, what to do), exit status 1, no traceback.
    missing = sh.run("install", "alice/nope", ok=False)
    assert missing.stderr.startswith("Error: Package alice/nope does not exist\n")
    assert sh.run("push", "Alice/bad-name", str(source), ok=False).stderr.startswith(
        "Error: 'Alice/bad-name' is not a package name.\nUse OWNER/NAME")
    assert "No folder at" in sh.run("push", "alice/x", str(tmp_path / "nowhere"), ok=False).stderr
    assert json.loads(sh.run("tag", "remove", "alice/cli", "nope", "--json", ok=False).stdout)["status"] == 404
    assert "Add --yes" in sh.run("delete", "alice/cli", ok=False).stderr

    assert sh.run("delete", "alice/cli", "--yes").stdout == "Deleted alice/cli.\n"
    assert sh.json("list") == ["alice/built"]
    assert sh.run("logout").stdout == f"Signed out of {live.url}.\n"
    anonymous = sh.run("push", "alice/cli", str(source), ok=False).stderr
    assert "signed in" in anonymous and f"registry-client login {live.url}" in anonymous
