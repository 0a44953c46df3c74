"""Sharing (protocol.md 9.10): only the owner grants and revokes; readers may list."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select

from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import Access, User
from . import keyset, permissions
from .context import Context
from .users import USERNAME_RE


def _principal(ctx: Context, principal: str) -> str:
    if principal in (permissions.PUBLIC, permissions.TEAM):
        return principal
    if not USERNAME_RE.match(principal):
        raise BadRequest("Username is not valid. Use a user name, 'public' or 'team'.")
    return principal


def access_entries(ctx: Context, owner: str, name: str) -> Iterator[str]:
    """Who may read the package, by name. The caller is checked and the first are read at once;
    the rest a batch at a time as they are taken, walking the key (package_id, principal)
    (services.keyset): any reader of a public package may list it, and it grows with every grant."""
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name)
    # Named: MariaDB may otherwise walk (principal), every package's grants after the last one.
    batches = keyset.batches(ctx.session, select(Access.principal).where(Access.package_id == package.id),
                             Access.principal, index="PRIMARY")
    return (row.principal for rows in batches for row in rows)


def list_access(ctx: Context, owner: str, name: str) -> list[str]:
    return list(access_entries(ctx, owner, name))


def grant_access(ctx: Context, owner: str, name: str, principal: str) -> None:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.require_owner(ctx, package, "Only the package owner can grant access")
    principal = _principal(ctx, principal)
    permissions.check_sharing_allowed(ctx, is_public=principal == permissions.PUBLIC,
                                      is_team=principal == permissions.TEAM)
    if principal not in (permissions.PUBLIC, permissions.TEAM) and \
            ctx.session.scalar(select(User.id).where(User.name == principal)) is None:
        raise NotFound(f"User {principal} does not exist")
    if ctx.session.get(Access, (package.id, principal)) is not None:
        raise Conflict("The user already has access")
    ctx.session.add(Access(package_id=package.id, principal=principal))


def revoke_access(ctx: Context, owner: str, name: str, principal: str) -> None:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.require_owner(ctx, package, "Only the package owner can revoke access")
    principal = _principal(ctx, principal)
    if principal == package.owner:
        raise Forbidden("Cannot revoke the owner's access")
    row = ctx.session.get(Access, (package.id, principal))
    if row is None:
        raise NotFound(f"User {principal} does not have access to {owner}/{name}")
    ctx.session.delete(row)


def check_access(ctx: Context, owner: str, name: str, principal: str) -> None:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name)
    permissions.require_owner(ctx, package, "Only the package owner can see access details")
    principal = _principal(ctx, principal)
    if ctx.session.get(Access, (package.id, principal)) is None:
        raise NotFound(f"User {principal} does not have access to {owner}/{name}")
