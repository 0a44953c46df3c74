"""The server secret (issue 9, item 7) and the privacy of the embedded database's files."""

from __future__ import annotations

import os
import re
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from registry import Settings, create_app
from registry.cli import main
from registry.secrets import KNOWN_SECRETS, ConfigurationError, check_secret_key, resolve_secret_key
from tests.conftest import ROOT, TEST_SECRET_KEY

MYSQL = "mysql+pymysql://u@h/db"
SCANNED = {".py", ".md", ".yml", ".yaml", ".toml", ".cfg", ".txt", ".sh", ".env", ".ini"}
SKIPPED_DIRS = {".git", ".venv", ".cache", "node_modules", "test-artifacts", "data_registry.egg-info", "__pycache__"}
# `REGISTRY_SECRET_KEY=VALUE` / `: VALUE` anywhere, and `secret_key="VALUE"` in code.
ASSIGNMENTS = [re.compile(r"""REGISTRY_SECRET_KEY['"]?\s*[:=]\s*(?:'([^']*)'|"([^"]*)"|([^\s'"]+))"""),
               re.compile(r"""secret_key\s*=\s*(?:'([^']*)'|"([^"]*)")""")]


def repository_secrets() -> dict[str, str]:
    """Every literal the repository assigns to the secret, with the file it is in."""
    found = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            path = os.path.join(folder, name)
            if os.path.splitext(name)[1] not in SCANNED and name != "Dockerfile" or path == __file__:
                continue  # this file names refused values on purpose
            with open(path, encoding="utf-8", errors="replace") as handle:
                content = handle.read()
            for pattern in ASSIGNMENTS:
                for match in pattern.finditer(content):
                    value = next(group for group in match.groups() if group is not None)
                    if value and not value.startswith("$"):  # ${VAR:?...}, $(command): not a value
                        found[value] = os.path.relpath(path, ROOT)
    return found


def test_no_secret_printed_in_the_repository_is_accepted():
    found = repository_secrets()
    assert found, "the scan found nothing: is the pattern still right?"
    for value, path in found.items():
        with pytest.raises(ConfigurationError):
            check_secret_key(value)
        assert value.strip().lower() in KNOWN_SECRETS or len(value.encode()) < 32, (value, path)


@pytest.mark.parametrize("secret,message", [
    ("s", "too short: use at least 32 bytes"),
    ("x" * 31, "too short"),
    ("change-me-to-a-long-random-string", "an example value printed in the registry's own files"),
    ("  Change-Me-To-A-Long-Random-String ", "an example value"),
    ("...a long random string, the same on every host...", "an example value"),
    ("abababababababababababababababababab", "not random"),
])
@pytest.mark.parametrize("database_url", ["", MYSQL])
def test_weak_secrets_are_refused_on_every_database(tmp_path, secret, message, database_url):
    settings = Settings(data_dir=tmp_path, database_url=database_url, secret_key=secret)
    with pytest.raises(ConfigurationError, match=message):
        resolve_secret_key(settings)
    with pytest.raises(ConfigurationError, match=message):
        create_app(settings)


def test_serve_refuses_to_start_with_a_known_secret(tmp_path):
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": MYSQL,
           "REGISTRY_SECRET_KEY": "change-me-to-a-long-random-string"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 1
    assert "REGISTRY_SECRET_KEY is an example value" in result.output


def test_a_long_random_secret_is_accepted(tmp_path):
    assert resolve_secret_key(Settings(data_dir=tmp_path, database_url=MYSQL, secret_key=TEST_SECRET_KEY)) == TEST_SECRET_KEY


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_embedded_database_and_data_dir_are_private(tmp_path):
    data = tmp_path / "data"
    app = create_app(Settings(data_dir=data))
    engine = app.extensions["registry"].engine
    with engine.begin() as connection:  # a write, so SQLite makes its -wal and -shm files
        connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        connection.execute(text("INSERT INTO probe VALUES (1)"))
        assert (mode(data), mode(data / "registry.db"), mode(data / "secret_key")) == (0o700, 0o600, 0o600)
        assert mode(data / "registry.db-wal") == 0o600
    engine.dispose()


def test_the_command_line_creates_the_database_privately(tmp_path):
    data = tmp_path / "cli-data"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"REGISTRY_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert (mode(data), mode(data / "registry.db")) == (0o700, 0o600)
