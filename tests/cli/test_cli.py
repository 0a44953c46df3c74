"""The `registry` command, through click's runner, on both databases."""

import pytest

from registry import create_app
from registry.cli.serve import prepare
from registry.db import make_engine
from registry import migrate
from tests.helpers import TestRegistry


def test_db_commands(run, settings):
    assert run("db", "current").output.endswith("up to date\n")
    refused = run("db", "downgrade", "base", input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    down = run("db", "downgrade", "base", "--yes")
    assert (down.exit_code, down.output) == (0, "Database at revision base (empty).\n")
    assert "needs `registry db upgrade`" in run("db", "current").output
    stale = run("db", "check")
    assert (stale.exit_code, stale.output) == (1, "Error: The database is not at the newest revision: run `registry db upgrade`.\n")
    up = run("db", "upgrade")
    assert (up.exit_code, up.output) == (0, f"Database at revision {migrate.head_revision(make_engine(settings.effective_database_url))}.\n")
    assert run("db", "check").output == "Schema is current and matches the models.\n"


def test_users_create_and_code(run, settings):
    created = run("users", "create", "carol", "--password", "long enough", "--admin")
    assert (created.exit_code, created.output) == (0, "Created administrator carol.\n")
    duplicate = run("users", "create", "carol", "--password", "long enough")
    assert (duplicate.exit_code, duplicate.output) == (1, "Error: Username already taken.\n")
    invalid = run("users", "create", "Carol", "--password", "long enough")
    assert invalid.exit_code == 1 and "Username is not valid" in invalid.output
    short = run("users", "create", "dave", "--password", "short")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    prompted = run("users", "create", "erin", input="long enough\nlong enough\n")
    assert prompted.exit_code == 0 and prompted.output.endswith("Created user erin.\n")

    code = run("users", "code", "carol")
    assert code.exit_code == 0
    registry = TestRegistry(create_app(settings))
    exchanged = registry.client.post("/api/token", data={"refresh_token": code.output.strip()})
    assert exchanged.status_code == 200
    registry.state.engine.dispose()
    unknown = run("users", "code", "nobody")
    assert (unknown.exit_code, unknown.output) == (1, "Error: User nobody does not exist\n")


def test_first_start_creates_an_admin_once(settings):
    password = prepare(settings)
    assert password and len(password) >= 12
    assert prepare(settings) is None
    registry = TestRegistry(create_app(settings))
    form = registry.client.get("/login")
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    signed_in = registry.client.post("/login", data={"username": "admin", "password": password, "csrf_token": csrf})
    assert signed_in.status_code == 302
    registry.state.engine.dispose()


def test_embedded_start_migrates_a_new_data_directory(tmp_path):
    from registry import Settings

    settings = Settings(data_dir=tmp_path / "fresh")
    assert prepare(settings)
    engine = make_engine(settings.effective_database_url)
    assert migrate.is_current(engine)
    engine.dispose()
    assert (tmp_path / "fresh" / "secret_key").exists()


def test_production_start_refuses_without_a_secret(settings):
    import click

    production = settings.__class__(**{**settings.__dict__, "secret_key": "",
                                       "database_url": "mysql+pymysql://nobody@127.0.0.1:1/none"})
    with pytest.raises(click.ClickException, match="REGISTRY_SECRET_KEY must be set"):
        prepare(production)


def test_start_with_an_old_schema(settings):
    """The embedded default migrates itself; production refuses until `registry db upgrade` ran."""
    import click

    engine = make_engine(settings.effective_database_url)
    migrate.downgrade(engine, "base")
    try:
        if settings.is_embedded_database:
            prepare(settings)
            assert migrate.is_current(engine)
        else:
            with pytest.raises(click.ClickException, match="run `registry db upgrade` first"):
                prepare(settings)
            assert migrate.current_revision(engine) is None
    finally:
        migrate.upgrade(engine)
        engine.dispose()
