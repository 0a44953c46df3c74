from __future__ import annotations

import click

from ..services import permissions
from ..services.throttle import purge_counters
from ..services.tokens import list_refresh_tokens, purge_tokens, revoke_refresh_token
from .common import json_option, operator_context, output


@click.group(help="Client sessions (refresh tokens).")
def tokens():
    pass


@tokens.command("list", help="Sessions, newest first (only their ids: the secrets are never stored).")
@click.option("--user", "user_name", default=None, help="Only this user's sessions.")
@json_option
def list_tokens(user_name: str | None, as_json: bool):
    with operator_context() as ctx:
        permissions.require_admin(ctx.actor)
        rows = list_refresh_tokens(ctx.session, user_name)
    output(rows, as_json, ["id", "user", "state", "created_at", "last_used_at", "expires_at"])


@tokens.command(help="Revoke a session by id; its access tokens stop working at once.")
@click.argument("token_id", type=int)
def revoke(token_id: int):
    with operator_context() as ctx:
        permissions.require_admin(ctx.actor)
        revoke_refresh_token(ctx.session, token_id)
    click.echo(f"Revoked token {token_id}.")


@tokens.command(help="Delete expired login codes, dead refresh tokens (expired, or revoked with no active token "
                     "left in their family), expired browser sessions and expired throttling counters. "
                     "Run it daily, e.g. from cron; the registry also clears each user's expired ones as they sign in.")
@json_option
def purge(as_json: bool):
    with operator_context() as ctx:
        permissions.require_admin(ctx.actor)
        counts = {**purge_tokens(ctx.session), "throttle_counters": purge_counters(ctx.session)}
    if as_json:
        output(counts, True)
    else:
        click.echo("Deleted " + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items()) + ".")
