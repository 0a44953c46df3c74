from __future__ import annotations

import click

from .. import migrate
from .common import open_runtime


@click.group(help="Database schema (Alembic migrations).")
def db():
    pass


@db.command(help="Migrate the schema to the newest revision (or REVISION).")
@click.argument("revision", default="head")
def upgrade(revision: str):
    with open_runtime() as runtime:  # only its engine: migrations need no secret
        migrate.upgrade(runtime.engine, revision)
        click.echo(f"Database at revision {migrate.current_revision(runtime.engine)}.")


@db.command(help="Undo migrations down to REVISION (default: one step back; 'base' for all).")
@click.argument("revision", default="-1")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade(revision: str, yes: bool):
    if not yes:
        click.confirm(f"Downgrade the database to {revision}? Data in dropped tables is lost", abort=True)
    with open_runtime() as runtime:
        migrate.downgrade(runtime.engine, revision)
        click.echo(f"Database at revision {migrate.current_revision(runtime.engine) or 'base (empty)'}.")


@db.command(help="Show the database's revision and the newest one.")
def current():
    with open_runtime() as runtime:
        current_revision, head = migrate.current_revision(runtime.engine), migrate.head_revision(runtime.engine)
    state = "up to date" if current_revision == head else "needs `registry db upgrade`"
    click.echo(f"current: {current_revision or 'none'}\nhead:    {head}\n{state}")


@db.command(help="Fail unless the database is at the newest revision and matches the models.")
def check():
    with open_runtime() as runtime:
        if not migrate.is_current(runtime.engine):
            raise click.ClickException("The database is not at the newest revision: run `registry db upgrade`.")
        drift = migrate.model_drift(runtime.engine)
    if drift:
        raise click.ClickException("The models and the migrations disagree:\n" + "\n".join(map(str, drift)))
    click.echo("Schema is current and matches the models.")
