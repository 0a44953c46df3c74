"""Lists of packages for the pages: recently updated (home), an owner's (user page) and search
results. Each lists only what the caller may read, with a visibility badge and update time."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import epoch
from ..models import Instance, Package
from . import permissions, search, users
from .browse import visibility
from .context import Context
from .packages import summarize

RECENT_COUNT = 20
SEARCH_PAGE_SIZE = 20
EXCERPT_CHARS = 240


def _listing(ctx: Context, *conditions, order_by_name: bool = False, limit: int | None = None) -> list[dict]:
    updated = func.max(Instance.updated_at).label("updated")
    query = (select(Package, updated).join(Instance, Instance.package_id == Package.id)
             .where(permissions.readable_clause(ctx), *conditions).group_by(Package.id))
    query = query.order_by(func.lower(Package.name), Package.id) if order_by_name else \
        query.order_by(updated.desc(), Package.id.desc())
    rows = ctx.session.execute(query.limit(limit) if limit else query).all()
    items = summarize(ctx, [package for package, _ in rows])
    return [_item(item, updated_at=epoch(when)) for item, (_, when) in zip(items, rows)]


def _item(summary: dict, **extra) -> dict:
    return {"owner": summary["owner"], "name": summary["name"],
            "visibility": visibility(summary["is_public"], summary["is_team"]), **extra}


def recent(ctx: Context, count: int = RECENT_COUNT) -> list[dict]:
    """The packages the caller may read, most recently pushed first."""
    return _listing(ctx, limit=count)


def owner_packages(ctx: Context, owner: str) -> dict:
    """A user's own packages that the caller may read, by name; NotFound for no such user."""
    user = users.get_user(ctx.session, owner)
    return {"name": user.name, "packages": _listing(ctx, Package.owner == user.name, order_by_name=True)}


def excerpt(text: str | None) -> str:
    """The start of a README as one line of plain text (the page escapes it)."""
    words = " ".join((text or "").split())
    return words if len(words) <= EXCERPT_CHARS else words[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


def search_page(ctx: Context, query: str, cursor: str | None = None, page_size: int = SEARCH_PAGE_SIZE) -> dict:
    """One page of the API's search (same matching, ranking and permissions) with links to the
    previous and next pages."""
    found = search.search(ctx, query, limit=page_size, cursor=cursor)
    offset = search.decode_cursor(cursor)
    previous = None
    if offset > 0:
        previous = search.encode_cursor(offset - page_size) if offset > page_size else ""
    return {"query": query, "first": offset + 1, "next_cursor": found["next_cursor"], "previous_cursor": previous,
            "packages": [_item(item, excerpt=excerpt(item["readme_preview"])) for item in found["packages"]]}
