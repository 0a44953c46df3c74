"""User administration (protocol.md 9.13, `/api/users/*`): admins only.

There is no e-mail here: creating a user or resetting a password answers a link to a page where
the user sets a password, and the administrator passes it on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, exists, func, select

from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import Access, Event, Package, User
from . import permissions, users
from .audit import EVENT_KEYS
from .context import Context
from .tokens import revoke_all


def iso(value: dt.datetime | None) -> str | None:
    """These endpoints report ISO timestamps, as the original did (protocol.md 14.14)."""
    return None if value is None else value.isoformat() + "+00:00"


def require_user_endpoints(ctx: Context) -> None:
    """The gate on every `/api/users/*` route: an admin first (protocol.md 14.10), then the setting."""
    permissions.require_admin(ctx.actor)
    if not ctx.settings.enable_user_endpoints:
        raise BadRequest("This endpoint is not enabled.")


def list_users(ctx: Context) -> list[dict]:
    permissions.require_admin(ctx.actor)
    # "" rather than null: `quilt user list` crashes on a null e-mail (accounts from the CLI may have none).
    return [{"username": u.name, "email": u.email or "", "date_joined": iso(u.created_at),
             "last_login": iso(u.last_login), "is_superuser": u.is_admin, "is_active": u.is_active}
            for u in ctx.session.scalars(select(User).order_by(User.name))]


def list_users_detailed(ctx: Context) -> dict[str, dict]:
    """Three queries whatever the number of users: users, owned packages, events by type."""
    permissions.require_admin(ctx.actor)
    owned = dict(ctx.session.execute(select(Package.owner, func.count()).group_by(Package.owner)).all())
    counts: dict[tuple[str, str], int] = {
        (name, kind): n for name, kind, n in ctx.session.execute(
            select(Event.user, Event.type, func.count()).where(Event.user.is_not(None))
            .group_by(Event.user, Event.type))}
    return {u.name: {"packages": owned.get(u.name, 0),
                     **{key: counts.get((u.name, kind), 0) for kind, key in EVENT_KEYS.items()},
                     "status": "active" if u.is_active else "disabled", "last_seen": iso(u.last_login),
                     "is_admin": u.is_admin}
            for u in ctx.session.scalars(select(User).order_by(User.name))}


def _user(ctx: Context, name: str, missing: str) -> User:
    user = ctx.session.scalar(select(User).where(User.name == name).with_for_update())
    if user is None:
        raise NotFound(missing)
    return user


def create_user(ctx: Context, name: str, email: str, *, secret_key: str) -> str:
    """An active user without a password; answers the link where they set one."""
    permissions.require_admin(ctx.actor)
    user = users.create_user(ctx.session, name, email=email)
    return users.password_url(ctx.base_url, secret_key, user)


def reset_password(ctx: Context, name: str, *, secret_key: str) -> str:
    """The old password stops working and every session ends; answers a new password link."""
    permissions.require_admin(ctx.actor)
    user = _user(ctx, name, "User not found.")
    users.make_password_unusable(user)
    revoke_all(ctx.session, user)
    return users.password_url(ctx.base_url, secret_key, user)


def disable_user(ctx: Context, name: str) -> None:
    permissions.require_admin(ctx.actor)
    if name == ctx.actor.name:
        raise Forbidden("Can't disable yourself")
    user = _user(ctx, name, "User to disable not found")
    user.is_active = False
    revoke_all(ctx.session, user)


def enable_user(ctx: Context, name: str) -> None:
    permissions.require_admin(ctx.actor)
    _user(ctx, name, "User to enable not found").is_active = True


def grant_admin(ctx: Context, name: str) -> None:
    permissions.require_admin(ctx.actor)
    _user(ctx, name, "User to make an admin not found").is_admin = True


def revoke_admin(ctx: Context, name: str) -> None:
    # Refusing self-revocation also means the registry always keeps at least one admin.
    permissions.require_admin(ctx.actor)
    if name == ctx.actor.name:
        raise Forbidden("Can't revoke yourself")
    _user(ctx, name, "User to revoke admin from not found").is_admin = False


def delete_user(ctx: Context, name: str) -> None:
    """Only users who own no package: deleting their packages is a decision for a person, not a
    side effect. Events keep the name, since they are history."""
    permissions.require_admin(ctx.actor)
    if name == ctx.actor.name:
        raise Forbidden("Can't delete yourself")
    user = _user(ctx, name, "User to delete not found")
    if ctx.session.scalar(select(exists().where(Package.owner == name))):
        raise Conflict(f"User {name} still owns packages; delete them first")
    revoke_all(ctx.session, user)
    # Otherwise a new account with the same name would inherit what was shared with this one.
    ctx.session.execute(delete(Access).where(Access.principal == name))
    ctx.session.delete(user)
    ctx.session.flush()
