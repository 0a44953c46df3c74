"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; never a browser that
Playwright downloads) against a live registry, on each database."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from registry.db import make_engine, make_session_factory
from registry.services import users
from tests.conftest import ROOT
from tests.support.live_server import LiveRegistry
from tests.web.pages import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# No network but the registry's: the machine has none, and the browser must not try.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y --no-install-recommends chromium` "
                    "(.ci/run does it).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """One browser tab with its own cookies, and everything the page logged to the console."""

    def __init__(self, context):
        self.context = context
        self.page = context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def policy_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line or line.startswith("pageerror")]


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield Tab(context)
    context.close()


@pytest.fixture
def live(settings, tmp_path):
    """A live registry (gunicorn) on this test's database, with `alice` signing in by password."""
    engine = make_engine(settings.effective_database_url)
    with make_session_factory(engine)() as session:
        users.create_user(session, "alice", password=PASSWORD)
        session.commit()
    engine.dispose()
    with LiveRegistry(settings, tmp_path / "server.log") as server:
        yield server


def save_artifact(source: Path, name: str) -> Path:
    """Copy into test-artifacts/ atomically (workers of both databases write the same name)."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    partial = ARTIFACTS / f".{name}.{os.getpid()}"
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target
