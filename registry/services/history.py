"""The push log (protocol.md 9.7): every push, oldest first, with the tags and versions that
point at its instance now."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ..db import epoch
from ..models import Instance, Log, Tag, Version
from . import permissions
from .context import Context


def list_log(ctx: Context, owner: str, name: str) -> list[dict]:
    package = permissions.readable_package(ctx, owner, name)
    rows = ctx.session.execute(
        select(Log.instance_id, Instance.hash, Log.created_at, Log.author, Log.message)
        .join(Instance, Instance.id == Log.instance_id)
        .where(Log.package_id == package.id).order_by(Log.created_at, Log.id)).all()
    tags, versions = defaultdict(list), defaultdict(list)
    for instance_id, tag in ctx.session.execute(select(Tag.instance_id, Tag.name)
                                                .where(Tag.package_id == package.id).order_by(Tag.name)):
        tags[instance_id].append(tag)
    for instance_id, version in ctx.session.execute(select(Version.instance_id, Version.version)
                                                    .where(Version.package_id == package.id)):
        versions[instance_id].append(version)
    # The client prints the lists with str(); null (not []) is what it shows as "None".
    return [{"hash": hash_, "created": epoch(created), "author": author, "message": message,
             "tags": tags.get(instance_id) or None, "versions": versions.get(instance_id) or None}
            for instance_id, hash_, created, author, message in rows]
