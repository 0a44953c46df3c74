"""Sharing (protocol.md 9.10): only the owner grants and revokes; readers may list."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import Access, User
from . import permissions
from .context import Context
from .users import USERNAME_RE


def _principal(ctx: Context, principal: str) -> str:
    if principal in (permissions.PUBLIC, permissions.TEAM):
        return principal
    if not USERNAME_RE.match(principal):
        raise BadRequest("Username is not valid. Use a user name, 'public' or 'team'.")
    return principal


def list_access(ctx: Context, owner: str, name: str) -> list[str]:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name)
    return sorted(ctx.session.scalars(select(Access.principal).where(Access.package_id == package.id)))


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
