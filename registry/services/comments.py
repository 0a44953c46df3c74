"""Comments on packages (protocol.md 9.12), readable by whoever can read the package."""

from __future__ import annotations

from sqlalchemy import select

from ..db import epoch
from ..models import Comment
from . import permissions
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


def list_comments(ctx: Context, owner: str, name: str) -> list[dict]:
    package = permissions.readable_package(ctx, owner, name)
    return [_serialise(c) for c in ctx.session.scalars(
        select(Comment).where(Comment.package_id == package.id).order_by(Comment.created_at, Comment.id))]
