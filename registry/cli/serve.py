"""`registry serve`: the embedded default migrates itself and creates an admin on first start;
production checks that `registry db upgrade` ran. Then gunicorn (or Flask's reloader with --dev)."""

from __future__ import annotations

import secrets

import click
from gunicorn.app.base import BaseApplication

from .. import create_app, migrate
from ..config import Settings
from ..services import users as user_service
from .common import load_settings, open_engine, session_scope
from .users import _secret

ADMIN_NAME = "admin"


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable is new in recent gunicorn releases
                self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app (own engine and connection pool) after the fork.
        return create_app(self.settings)


def prepare(settings: Settings) -> str | None:
    """Make the database ready; returns the new admin's password on a first start."""
    _secret(settings)  # fail early, with a clear message, when production has no secret
    engine = open_engine(settings)
    try:
        if settings.is_embedded_database:
            migrate.upgrade(engine)
        elif not migrate.is_current(engine):
            raise click.ClickException("The database schema is not current: run `registry db upgrade` first.")
    finally:
        engine.dispose()
    with session_scope(settings) as session:
        if user_service.count_users(session):
            return None
        password = secrets.token_urlsafe(12)
        user_service.create_user(session, ADMIN_NAME, password=password, is_admin=True)
        return password


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
    click.echo(f"Registry running at {url}  (quilt: export QUILT_PKG_URL={url})", err=False)
    if dev:
        create_app(settings).run(host=host, port=port, debug=True)
        return
    _Gunicorn(settings, {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                         "worker_class": "gthread", "timeout": timeout, "graceful_timeout": 30,
                         "accesslog": "-", "errorlog": "-",
                         # One shared control socket path would clash between registries on one host.
                         "control_socket_disable": True}).run()
