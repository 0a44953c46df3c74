"""A person's own account: sign-up, password change, and the client tokens and browsers that
are signed in as them. Every function acts on the caller's account only."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from ..auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from ..db import epoch, utcnow
from ..errors import BadRequest, NotFound
from ..models import RefreshToken, User, WebSession
from . import permissions, users
from .context import Context
from .tokens import revoke_all


def require_signup(ctx: Context) -> None:
    """Sign-up is a deployment setting; when it is off, the page does not exist."""
    if not ctx.settings.allow_signup:
        raise NotFound("Sign-up is disabled on this registry. Ask an administrator for an account.")


def sign_up(ctx: Context, name: str, password: str, confirm: str, email: str = "") -> User:
    """An active user with a password, when the registry allows sign-up."""
    require_signup(ctx)
    if password != confirm:
        raise BadRequest("The two passwords do not match.")
    return users.create_user(ctx.session, name.strip(), password=password, email=email.strip() or None)


def change_password(ctx: Context, current: str, new: str, confirm: str) -> User:
    """Set a new password after checking the current one. Every session of the user ends, this
    browser's included: the caller signs this browser in again with a fresh session."""
    permissions.require_user(ctx.actor)
    user = ctx.actor.user
    if not verify_password(user.password_hash, current):
        raise BadRequest("The current password is not correct.")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if new != confirm:
        raise BadRequest("The two passwords do not match.")
    user.password_hash = hash_password(new)
    revoke_all(ctx.session, user)
    return user


def list_tokens(ctx: Context) -> list[dict]:
    """The caller's refresh tokens still in use (each signed-in client holds one), newest first."""
    permissions.require_user(ctx.actor)
    rows = ctx.session.scalars(
        select(RefreshToken).where(RefreshToken.user_id == ctx.actor.user.id, RefreshToken.revoked_at.is_(None),
                                   RefreshToken.expires_at > utcnow())
        .order_by(RefreshToken.created_at.desc(), RefreshToken.id.desc()))
    return [{"id": row.id, "created_at": epoch(row.created_at), "last_used_at": epoch(row.last_used_at),
             "expires_at": epoch(row.expires_at)} for row in rows]


def revoke_token(ctx: Context, token_id: int) -> None:
    """Sign a client out: the refresh token and every access token issued from it stop working."""
    permissions.require_user(ctx.actor)
    revoked = ctx.session.execute(
        update(RefreshToken).where(RefreshToken.id == token_id, RefreshToken.user_id == ctx.actor.user.id,
                                   RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount
    if revoked != 1:
        raise NotFound("No such token")


def list_web_sessions(ctx: Context, current_id: int | None) -> list[dict]:
    """The caller's signed-in browsers, most recently seen first; `current` marks this one."""
    permissions.require_user(ctx.actor)
    rows = ctx.session.scalars(
        select(WebSession).where(WebSession.user_id == ctx.actor.user.id, WebSession.expires_at > utcnow())
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc()))
    return [{"id": row.id, "user_agent": row.user_agent, "created_at": epoch(row.created_at),
             "last_seen_at": epoch(row.last_seen_at), "current": row.id == current_id} for row in rows]


def revoke_web_session(ctx: Context, session_id: int) -> None:
    permissions.require_user(ctx.actor)
    deleted = ctx.session.execute(delete(WebSession).where(WebSession.id == session_id,
                                                           WebSession.user_id == ctx.actor.user.id)).rowcount
    if deleted != 1:
        raise NotFound("No such session")
