"""Package search (protocol.md 9.11.1), portable across SQLite and MySQL.

Every word of the query must appear (case-insensitively, as a substring) in the package's
`owner/name`, in a node name of its `latest` tree, or in its README; names and READMEs are
read only where their gram index (services.grams) says they may hold the word. Results rank
name matches above node-name matches above README matches, then by owner and name. Only packages the
caller may read, and that have a `latest` tag, are candidates. `limit`/`cursor` page through
results; the published client sends neither and gets the first page.
"""

from __future__ import annotations

import base64

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from ..errors import BadRequest
from ..models import Blob, Instance, KeywordSet, Package, Tag
from . import keywords, permissions, readme
from .context import Context
from .packages import README_PREVIEW_CHARS, summarize
from .tags import LATEST

MAX_WORDS = 10
MAX_WORD_CHARS = 256  # longer than any name or word worth finding; LIKE patterns have limits
MAX_LIMIT = 1000
MAX_OFFSET = 10**9  # far past any real result list, far below the databases' integer limits
MAX_CURSOR_CHARS = 64
NAME, NODE, README = 3, 2, 1


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        offset = int(value)
        # An offset past what any database accepts (SQLite's is a signed 64-bit integer) would be a 500.
        if kind != "offset" or not 0 <= offset <= MAX_OFFSET:
            raise ValueError
    except ValueError:
        raise BadRequest("Invalid cursor") from None
    return offset


def search(ctx: Context, query: str, *, limit: int = MAX_LIMIT, cursor: str | None = None) -> dict:
    words = [w.lower() for w in query.split()]
    if len(words) > MAX_WORDS:
        raise BadRequest(f"Too many search terms (max is {MAX_WORDS})")
    if any(len(word) > MAX_WORD_CHARS for word in words):
        raise BadRequest(f"Search terms are at most {MAX_WORD_CHARS} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    offset = decode_cursor(cursor)

    handle = func.lower(Package.owner + "/" + Package.name)
    # The preview (up to 640 KiB) is read in a subquery, for the rows shown only (see grams.text_holds).
    previews = aliased(Blob)
    shown_preview = select(func.substr(previews.preview, 1, README_PREVIEW_CHARS)).where(
        previews.id == Blob.id).scalar_subquery()
    rank = literal(0)
    conditions = []
    for word in words:
        pattern = _like(word)
        in_name = handle.like(pattern, escape="\\")
        in_nodes = keywords.names_hold(word, pattern)
        in_readme = readme.preview_holds(word, pattern)
        conditions.append(or_(in_name, in_nodes, in_readme))
        rank = rank + case((in_name, NAME), (in_nodes, NODE), else_=README)
    rank = rank.label("rank")
    rows = ctx.session.execute(
        select(Package, rank, shown_preview)
        .join(Tag, and_(Tag.package_id == Package.id, Tag.name == LATEST))
        .join(Instance, Instance.id == Tag.instance_id)
        .outerjoin(KeywordSet, KeywordSet.id == Instance.keyword_set_id)
        .outerjoin(Blob, and_(Blob.owner == Package.owner, Blob.hash == Instance.readme_hash))
        .where(permissions.readable_clause(ctx), *conditions)
        .order_by(rank.desc(), func.lower(Package.owner), func.lower(Package.name), Package.id)
        .offset(offset).limit(limit + 1)).all()
    page = rows[:limit]
    items = summarize(ctx, [package for package, _, _ in page])
    for item, (_, score, preview) in zip(items, page):
        item.update(readme_preview=preview, rank=score)
    return {"packages": items, "next_cursor": encode_cursor(offset + limit) if len(rows) > limit else None}
