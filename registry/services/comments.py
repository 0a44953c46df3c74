"""Comments on packages (protocol.md 9.12), readable by whoever can read the package."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select

from ..db import epoch
from ..models import Comment
from . import keyset, permissions
from .context import Context


def _serialise(comment: Comment) -> dict:
    return {"id": f"{comment.id:016x}", "author": comment.author, "created": epoch(comment.created_at),
            "contents": comment.contents}


def add_comment(ctx: Context, owner: str, name: str, contents: str) -> dict:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name)
    comment = Comment(package_id=package.id, author=ctx.actor.name, contents=contents)
    ctx.session.add(comment)
    ctx.session.flush()
    return _serialise(comment)


def comment_entries(ctx: Context, owner: str, name: str) -> Iterator[dict]:
    """Every comment, oldest first. Permission is checked and the first comments are read at
    once; the rest a batch at a time as they are taken (services.keyset): anyone signed in may
    comment, up to 10 KiB a comment, so a package's comments may be far more than a worker
    should hold."""
    package = permissions.readable_package(ctx, owner, name)
    columns = select(Comment.id, Comment.author, Comment.created_at, Comment.contents)
    batches = keyset.batches(ctx.session, columns.where(Comment.package_id == package.id), Comment.created_at,
                             Comment.id)
    return (_serialise(row) for rows in batches for row in rows)
