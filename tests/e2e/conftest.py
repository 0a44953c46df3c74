"""Fixtures of the end-to-end tests: the quilt 2.9.15 environment, a live registry with the
accounts of tests/e2e/commands.py, and client machines."""

from __future__ import annotations

import pytest

from registry.db import make_engine, make_session_factory
from registry.services import users
from tests.conftest import ROOT
from tests.e2e.commands import ACCOUNTS, Machines
from tests.support.live_server import LiveRegistry
from tests.support.quilt_cli import ensure_quilt_venv


@pytest.fixture(scope="session")
def quilt_venv():
    return ensure_quilt_venv(ROOT / ".cache")


@pytest.fixture
def live(storage_settings, tmp_path):
    engine = make_engine(storage_settings.effective_database_url)
    with make_session_factory(engine)() as session:
        for name, (password, email, is_admin) in ACCOUNTS.items():
            users.create_user(session, name, password=password, email=email, is_admin=is_admin)
        session.commit()
    engine.dispose()
    with LiveRegistry(storage_settings, tmp_path / "server.log") as server:
        yield server


@pytest.fixture
def machines(quilt_venv, tmp_path, live):
    return Machines(quilt_venv, tmp_path / "machines", live.url)
