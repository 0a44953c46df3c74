"""`registry serve`: the embedded default migrates itself and creates an admin on first start;
production checks that `registry db upgrade` ran. Then gunicorn, in a fresh process, so that
settings such as the metrics directory are in place before any worker imports the app."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile

import click

from .. import create_app, migrate
from ..config import Settings
from ..services import users as user_service
from .common import load_settings, open_runtime, operator_context

ADMIN_NAME = "admin"


def prepare(settings: Settings) -> str | None:
    """Make the database ready; returns the new admin's password on a first start."""
    with open_runtime(settings) as runtime:
        runtime.secret_key  # noqa: B018 - fail early, with a clear message, when production has no secret
        if settings.is_embedded_database:
            migrate.upgrade(runtime.engine)
        elif not migrate.is_current(runtime.engine):
            raise click.ClickException("The database schema is not current: run `registry db upgrade` first.")
        with operator_context(runtime) as ctx:
            if user_service.count_users(ctx.session):
                return None
            password = secrets.token_urlsafe(12)
            user_service.create_user(ctx.session, ADMIN_NAME, password=password, is_admin=True)
            return password


def gunicorn_command(host: str, port: int, workers: int, threads: int, timeout: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:registry.gunicorn_conf",
            "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", str(threads),
            "--timeout", str(timeout), "registry.wsgi:app"]


@click.command(help="Serve the registry (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per worker.")
@click.option("--timeout", default=120, show_default=True, type=int, help="Seconds before a stuck worker is restarted.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader.")
def serve(host: str, port: int, workers: int, threads: int, timeout: int, dev: bool):
    settings = load_settings()
    admin_password = prepare(settings)
    url = settings.public_url or f"http://{host}:{port}"
    if settings.is_embedded_database:
        click.echo(f"Data directory: {settings.data_dir}")
    if admin_password:
        click.echo(f"Created the administrator account. Sign in at {url}/login as "
                   f"'{ADMIN_NAME}' with password: {admin_password}\n(This password is shown only once.)")
    click.echo(f"Registry running at {url}  (quilt: export QUILT_PKG_URL={url})")
    if dev:
        create_app(settings).run(host=host, port=port, debug=True)
        return
    env = dict(os.environ)
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        env.update(PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="registry-metrics-"), REGISTRY_OWNS_METRICS_DIR="1")
    sys.stdout.flush()
    os.execve(sys.executable, gunicorn_command(host, port, workers, threads, timeout), env)
