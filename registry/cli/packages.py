from __future__ import annotations

import click

from ..services import access, packages as package_service
from .common import confirm, json_option, operator_context, output, split_handle, yes_option


@click.group(help="Packages.")
def packages():
    pass


@packages.command("list", help="All packages, or OWNER's.")
@click.argument("owner", required=False)
@json_option
def list_packages(owner: str | None, as_json: bool):
    with operator_context() as ctx:
        rows = package_service.catalogue(ctx, owner)
    output(rows, as_json, ["owner", "name", "is_public", "is_team", "instances", "updated_at"])


@packages.command(help="One package: sharing, tags, versions, history, size.")
@click.argument("handle")
@json_option
def show(handle: str, as_json: bool):
    with operator_context() as ctx:
        detail = package_service.describe(ctx, *split_handle(handle))
    if not as_json:
        detail["tags"] = [f"{t['tag']}={t['hash'][:12]}" for t in detail["tags"]]
        detail["versions"] = [f"{v['version']}={v['hash'][:12]}" for v in detail["versions"]]
    output(detail, as_json)


@packages.command(help="Delete a package: instances, log, tags, versions, access (fragments stay for `gc`).")
@click.argument("handle")
@yes_option
def delete(handle: str, yes: bool):
    owner, name = split_handle(handle)
    confirm(f"Delete {owner}/{name} with all its history? This cannot be undone", yes)
    with operator_context() as ctx:
        package_service.delete_package(ctx, owner, name)
    click.echo(f"Deleted {owner}/{name}. Run `registry gc` later to free its storage.")


@packages.command("access", help="Who may read a package.")
@click.argument("handle")
@json_option
def access_list(handle: str, as_json: bool):
    with operator_context() as ctx:
        principals = access.list_access(ctx, *split_handle(handle))
    output([{"principal": p} for p in principals], as_json, ["principal"])
