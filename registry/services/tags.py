"""Tags: movable names for instances. `latest` moves with every push, in the push's transaction."""

from __future__ import annotations

from sqlalchemy import select

from ..db import epoch, utcnow
from ..errors import Forbidden, NotFound
from ..models import Instance, Package, Tag
from . import permissions
from .context import Context

LATEST = "latest"
MAX_TAG_LENGTH = 64


def move_tag(ctx: Context, package: Package, instance: Instance, name: str) -> None:
    tag = ctx.session.scalar(select(Tag).where(Tag.package_id == package.id, Tag.name == name).with_for_update())
    if tag is None:
        ctx.session.add(Tag(package_id=package.id, name=name, instance_id=instance.id, updated_by=ctx.actor.name))
    else:
        tag.instance_id, tag.updated_at, tag.updated_by = instance.id, utcnow(), ctx.actor.name
    ctx.session.flush()


def get_tag(ctx: Context, owner: str, name: str, tag_name: str) -> dict:
    package = permissions.readable_package(ctx, owner, name)
    instance = ctx.session.scalar(select(Instance).join(Tag, Tag.instance_id == Instance.id)
                                  .where(Tag.package_id == package.id, Tag.name == tag_name))
    if instance is None:
        raise NotFound(f"Tag '{tag_name}' does not exist")
    is_public, is_team = permissions.access_flags(ctx, package)
    return {"hash": instance.hash, "created_by": instance.created_by, "created_at": epoch(instance.created_at),
            "updated_by": instance.updated_by, "updated_at": epoch(instance.updated_at),
            "is_public": is_public, "is_team": is_team}


def set_tag(ctx: Context, owner: str, name: str, tag_name: str, top_hash: str) -> None:
    """Create or move a tag: the owner, or anyone signed in on a team package."""
    permissions.require_user(ctx.actor)
    if ctx.actor.name != owner and not ctx.settings.allow_team_access:
        raise Forbidden("Only the package owner can modify tags")
    package = permissions.find_readable(ctx, owner, name, for_update=True)
    if package is None:
        raise permissions.package_not_found(ctx.actor, owner, name)
    permissions.check_tag_write(ctx, package)
    instance = ctx.session.scalar(select(Instance).where(Instance.package_id == package.id, Instance.hash == top_hash))
    if instance is None:
        raise NotFound("Package hash does not exist")
    move_tag(ctx, package, instance, tag_name)
