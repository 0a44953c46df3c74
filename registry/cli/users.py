from __future__ import annotations

import click

from ..config import Settings
from ..secrets import ConfigurationError, resolve_secret_key
from ..services import users as user_service
from ..services.tokens import TokenService
from .common import load_settings, session_scope


@click.group(help="User accounts.")
def users():
    pass


@users.command(help="Create a user who signs in with a password.")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters (prompted when left out).")
@click.option("--email", default=None)
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create(name: str, password: str, email: str | None, admin: bool):
    with session_scope(load_settings()) as session:
        user_service.create_user(session, name, password=password, email=email, is_admin=admin)
    click.echo(f"Created {'administrator' if admin else 'user'} {name}.")


@users.command(help="Print a one-time login code for NAME (for `quilt login` on headless hosts and CI).")
@click.argument("name")
def code(name: str):
    settings = load_settings()
    tokens = TokenService(settings, _secret(settings))
    with session_scope(settings) as session:
        login_code = tokens.issue_code(session, user_service.get_user(session, name))
    click.echo(login_code)


def _secret(settings: Settings) -> str:
    try:
        return resolve_secret_key(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
