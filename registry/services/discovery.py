"""Recently updated packages (protocol.md 9.11.2) and the caller's profile (9.11.3)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..models import Access, Package
from . import listings, permissions
from .context import Context
from .packages import summarize

MAX_RECENT = 100


def recent_packages(ctx: Context, count: int) -> list[dict]:
    """The packages the caller may read, most recently pushed first. Unlike the original (public
    or team packages only), a signed-in caller also sees packages shared with them."""
    rows = listings.updated_packages(ctx, limit=max(1, min(count, MAX_RECENT)))
    # `updated_at` is an ISO string here, as in the original (protocol.md 14.14).
    return [{"owner": p.owner, "name": p.name, "updated_at": when.isoformat() + "+00:00"} for p, when in rows]


def profile(ctx: Context) -> dict:
    permissions.require_user(ctx.actor)
    packages = ctx.session.scalars(
        select(Package).join(Access, Access.package_id == Package.id)
        .where(Access.principal == ctx.actor.name)
        .order_by(func.lower(Package.owner), func.lower(Package.name))).all()
    items = summarize(ctx, list(packages))
    return {"packages": {"own": [i for i in items if i["owner"] == ctx.actor.name],
                         "shared": [i for i in items if i["owner"] != ctx.actor.name]},
            "plan": None, "have_credit_card": None, "is_admin": ctx.actor.is_admin}
