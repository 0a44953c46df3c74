"""What admins see of the packages and the audit trail (protocol.md 9.13): `/api/audit/...` and
`/api/admin/...`. Admins only, but not gated by `enable_user_endpoints`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import func, select

from .. import names
from ..db import epoch
from ..models import Access, Event, Package
from . import permissions
from .context import Context
from .events import DELETE, INSTALL, LOGIN_FAILED, PREVIEW, PUSH, TOKEN_REUSED

EVENT_TYPES = (PUSH, INSTALL, PREVIEW, DELETE, LOGIN_FAILED, TOKEN_REUSED)
# How list_detailed and package_summary name each event type.
EVENT_KEYS = {INSTALL: "installs", PREVIEW: "previews", PUSH: "pushes", DELETE: "deletes"}
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    """The original returned every event, unordered (protocol.md 14.15). We return the newest
    `limit` matching events, oldest first; `until` reaches further back."""

    limit: int = DEFAULT_LIMIT
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    type: str | None = None


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def _events(ctx: Context, where, audit_filter: AuditFilter) -> list[dict]:
    permissions.require_admin(ctx.actor)
    query = select(Event).where(*where)
    if audit_filter.since is not None:
        query = query.where(Event.created_at >= _utc(audit_filter.since))
    if audit_filter.until is not None:
        query = query.where(Event.created_at < _utc(audit_filter.until))
    if audit_filter.type is not None:
        query = query.where(Event.type == audit_filter.type)
    newest = ctx.session.scalars(query.order_by(Event.created_at.desc(), Event.id.desc())
                                 .limit(audit_filter.limit)).all()
    return [{"created": epoch(e.created_at), "user": e.user, "type": e.type, "package_owner": e.package_owner,
             "package_name": e.package_name, "package_hash": e.package_hash,
             "extra": None if e.extra is None else json.loads(e.extra)}
            for e in reversed(newest)]


def package_events(ctx: Context, owner: str, name: str, audit_filter: AuditFilter) -> list[dict]:
    """Events of a package name, including those of a deleted package of that name."""
    if not names.is_handle(owner, name):
        raise names.impossible("package", f"{owner}/{name}")
    return _events(ctx, (Event.package_owner == owner, Event.package_name == name), audit_filter)


def user_events(ctx: Context, user: str, audit_filter: AuditFilter) -> list[dict]:
    if not names.is_username(user):
        raise names.impossible("user", user)
    return _events(ctx, (Event.user == user,), audit_filter)


def owner_packages(ctx: Context, owner: str) -> list[dict]:
    """Every package of `owner`, whoever may read it, by name."""
    permissions.require_admin(ctx.actor)
    if not names.is_username(owner):
        raise names.impossible("user", owner)
    packages = ctx.session.execute(select(Package.id, Package.name).where(Package.owner == owner)
                                   .order_by(Package.name)).all()
    shared = set(ctx.session.execute(
        select(Access.package_id, Access.principal).join(Package, Package.id == Access.package_id)
        .where(Package.owner == owner, Access.principal.in_((permissions.PUBLIC, permissions.TEAM)))).all())
    return [{"name": name, "is_public": (package_id, permissions.PUBLIC) in shared,
             "is_team": (package_id, permissions.TEAM) in shared} for package_id, name in packages]


def package_summary(ctx: Context) -> dict[str, dict]:
    """Event counts and latest times per existing package, in one grouped query."""
    permissions.require_admin(ctx.actor)
    rows = ctx.session.execute(
        select(Event.package_owner, Event.package_name, Event.type, func.count(), func.max(Event.created_at))
        .join(Package, (Package.owner == Event.package_owner) & (Package.name == Event.package_name))
        .group_by(Event.package_owner, Event.package_name, Event.type)
        .order_by(Event.package_owner, Event.package_name)).all()
    summary: dict[str, dict] = {}
    for owner, name, kind, count, latest in rows:
        entry = summary.setdefault(f"{owner}/{name}", {key: {"count": 0} for key in EVENT_KEYS.values()})
        if kind in EVENT_KEYS:
            entry[EVENT_KEYS[kind]] = {"count": count, "latest": epoch(latest)}
    return summary
