"""Lists of packages for the pages: recently updated (home), an owner's (user page) and search
results. Each lists only what the caller may read, with its sharing flags (and update time or
README preview); registry/web/view_models.py turns those into badges and excerpts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from .. import names
from ..db import epoch
from ..errors import BadRequest
from ..models import Instance, Package
from . import permissions, search, users
from .context import Context
from .packages import summarize

RECENT_COUNT = 20
OWNER_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 20


def updated_packages(ctx: Context, *conditions, order_by_name: bool = False,
                     limit: int | None = None) -> list[tuple[Package, dt.datetime]]:
    """The packages the caller may read (and that meet `conditions`), each with the update time
    of its newest instance; most recently updated first, or by handle without case (for one
    owner: by name). Each newest instance is one step down the index (package_id, updated_at):
    the cost follows the packages, not every instance they ever had (reading those took 1.5 s at
    500,000 instances)."""
    newest = (select(Instance.updated_at).where(Instance.package_id == Package.id)
              .order_by(Instance.updated_at.desc()).limit(1).correlate(Package).scalar_subquery())
    updated = newest.label("updated")
    query = select(Package, updated).where(permissions.readable_clause(ctx), newest.is_not(None), *conditions)
    query = query.order_by(Package.folded_handle) if order_by_name else \
        query.order_by(updated.desc(), Package.id.desc())
    return [tuple(row) for row in ctx.session.execute(query.limit(limit) if limit else query)]


def _listing(ctx: Context, *conditions, order_by_name: bool = False, limit: int | None = None) -> list[dict]:
    rows = updated_packages(ctx, *conditions, order_by_name=order_by_name, limit=limit)
    items = summarize(ctx, [package for package, _ in rows])
    return [_item(item, updated_at=epoch(when)) for item, (_, when) in zip(items, rows)]


def _item(summary: dict, **extra) -> dict:
    return {key: summary[key] for key in ("owner", "name", "is_public", "is_team")} | extra


def recent(ctx: Context, count: int = RECENT_COUNT) -> list[dict]:
    """The packages the caller may read, most recently pushed first."""
    return _listing(ctx, limit=count)


def owner_packages(ctx: Context, owner: str, after: str | None = None, count: int = OWNER_PAGE_SIZE) -> dict:
    """A page of a user's own packages that the caller may read, by name without case: the first
    `count` named after `after` (a package name), and the name to start the next page after when
    there are more. NotFound for no such user. A page walks the key `folded_handle` (lower-case
    `owner/name`) from where the last one ended, so it costs what it shows, however many
    packages the owner has (all of them on one page took 4.9 s at 50,000)."""
    user = users.get_user(ctx.session, owner)
    if after is not None and not names.is_package_name(after):
        raise BadRequest("Invalid page: `after` must be a package name")
    # The owner's handles, and only theirs (user names are lower case): `/` + 1 is `0`.
    owner_key = user.name.lower()
    start, end = f"{owner_key}/{(after or '').lower()}", f"{owner_key}0"
    listed = _listing(ctx, Package.folded_handle > start, Package.folded_handle < end, order_by_name=True,
                      limit=count + 1)
    return {"name": user.name, "packages": listed[:count], "after": after,
            "next_after": listed[count - 1]["name"] if len(listed) > count else None}


def search_page(ctx: Context, query: str, cursor: str | None = None, page_size: int = SEARCH_PAGE_SIZE) -> dict:
    """One page of the API's search (same matching, ranking and permissions) with links to the
    previous and next pages."""
    found = search.search(ctx, query, limit=page_size, cursor=cursor)
    offset = search.decode_cursor(cursor)
    previous = None
    if offset > 0:
        previous = search.encode_cursor(offset - page_size) if offset > page_size else ""
    return {"query": query, "first": offset + 1, "next_cursor": found["next_cursor"], "previous_cursor": previous,
            "packages": [_item(item, readme_preview=item["readme_preview"]) for item in found["packages"]]}
