from __future__ import annotations

import click

from ..services import admin
from ..services import users as user_service
from .common import confirm, json_option, open_runtime, operator_context, output, yes_option


@click.group(help="User accounts.")
def users():
    pass


@users.command(help="Create a user who signs in with a password.")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters (prompted when left out).")
@click.option("--email", default=None)
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
def create(name: str, password: str, email: str | None, is_admin: bool):
    with operator_context() as ctx:
        user_service.create_user(ctx.session, name, password=password, email=email, is_admin=is_admin)
    click.echo(f"Created {'administrator' if is_admin else 'user'} {name}.")


@users.command("list", help="All users.")
@json_option
def list_users(as_json: bool):
    with operator_context() as ctx:
        rows = admin.list_users(ctx)
    output(rows, as_json, ["username", "email", "is_superuser", "is_active", "date_joined", "last_login"])


@users.command(help="One user: status and activity.")
@click.argument("name")
@json_option
def show(name: str, as_json: bool):
    with operator_context() as ctx:
        user_service.get_user(ctx.session, name)
        detail = {"username": name, **admin.list_users_detailed(ctx)[name]}
    output(detail, as_json)


def _simple(command_name: str, action, done: str, help_text: str, destructive: str | None = None):
    @users.command(command_name, help=help_text)
    @click.argument("name")
    @yes_option
    def command(name: str, yes: bool):
        if destructive:
            confirm(destructive.format(name=name), yes)
        with operator_context() as ctx:
            action(ctx, name)
        click.echo(done.format(name=name))

    return command


_simple("disable", admin.disable_user, "Disabled {name}; their sessions are revoked.",
        "Disable a user and end their sessions.", "Disable {name} and end all their sessions?")
_simple("enable", admin.enable_user, "Enabled {name}.", "Enable a disabled user.")
_simple("set-admin", admin.grant_admin, "{name} is now an administrator.", "Make a user an administrator.")
_simple("unset-admin", admin.revoke_admin, "{name} is no longer an administrator.",
        "Take administrator rights away.")
_simple("delete", admin.delete_user, "Deleted {name}.",
        "Delete a user who owns no packages.", "Delete user {name}? This cannot be undone")


@users.command("reset-password", help="Make the password unusable, end all sessions, print a link to set a new one.")
@click.argument("name")
@yes_option
def reset_password(name: str, yes: bool):
    confirm(f"Reset the password of {name} and end all their sessions?", yes)
    with open_runtime() as runtime, operator_context(runtime) as ctx:
        url = admin.reset_password(ctx, name, secret_key=runtime.secret_key)
    click.echo(f"Send {name} this link to choose a new password (valid 24 hours, once):\n{url}")


@users.command(help="Print a one-time login code for NAME (for `quilt login` on headless hosts and CI).")
@click.argument("name")
def code(name: str):
    with open_runtime() as runtime, operator_context(runtime) as ctx:
        login_code = runtime.tokens.issue_code(ctx.session, user_service.get_user(ctx.session, name))
    click.echo(login_code)
