"""Fixtures of the SDK tests: a live registry (gunicorn) on each database and blob store, with
accounts that sign in through the real /login page, and client "machines" (each its own config
and object store, so one machine's cache never helps another)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from registry.db import make_engine, make_session_factory
from registry.services import users
from registry_client import Client, Settings, login
from tests.support.live_server import LiveRegistry, web_login_code

PASSWORDS = {"alice": "alice's password", "bob": "bob's password"}


@pytest.fixture
def live(storage_settings, tmp_path):
    engine = make_engine(storage_settings.effective_database_url)
    with make_session_factory(engine)() as session:
        for name, password in PASSWORDS.items():
            users.create_user(session, name, password=password)
        session.commit()
    engine.dispose()
    with LiveRegistry(storage_settings, tmp_path / "server.log") as server:
        server.settings = storage_settings
        yield server


class Machine:
    """One user's computer: a Client with its own folders, recording what it sends to storage."""

    def __init__(self, home: Path, registry: str):
        self.home = home
        self.registry = registry
        self.blob_requests: list = []
        self.client = Client(Settings.at(home), progress="never", on_blob_request=self.blob_requests.append)

    def login(self, user: str) -> "Machine":
        login(self.registry, web_login_code(self.registry, user, PASSWORDS[user]), client=self.client)
        return self

    def sent(self, method: str) -> list:
        return [r for r in self.blob_requests if r.method == method]


@pytest.fixture
def machine(tmp_path, live):
    def make(name: str, user: str | None = None) -> Machine:
        made = Machine(tmp_path / "machines" / name, live.url)
        return made.login(user) if user else made
    return make


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_source(root: Path) -> Path:
    """A folder like a data scientist's: text, CSV, JSON, binaries, an empty file, nesting."""
    folder = root / "source"
    (folder / "data").mkdir(parents=True)
    (folder / "images" / "raw").mkdir(parents=True)
    (folder / "README.md").write_text("# Sales\n\nQuarterly sales by region.\n")
    (folder / "data" / "sales.csv").write_bytes(b"region,amount\r\neu,\"1,5\"\r\nus,2\r\n")
    (folder / "data" / "info.json").write_text('{"rows": 2, "currency": "EUR"}')
    (folder / "data" / "empty.bin").write_bytes(b"")
    (folder / "images" / "a.png").write_bytes(os.urandom(300_000))
    (folder / "images" / "raw" / "b.png").write_bytes(os.urandom(1000))
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
