"""Fixtures of the end-to-end tests: a live registry with the accounts of tests/e2e/commands.py,
and client machines (the quilt 2.9.15 environment, `quilt_venv`, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from registry.db import make_engine, make_session_factory
from registry.services import users
from tests.e2e.commands import ACCOUNTS, Machines
from tests.support.live_server import LiveRegistry


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
