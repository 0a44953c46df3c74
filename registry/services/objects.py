"""`POST /api/get_objects`: download URLs for fragments of packages the caller can read."""

from __future__ import annotations

from sqlalchemy import select

from ..models import Blob, Instance, InstanceBlob, Package
from . import permissions
from .blobs import chunked
from .context import Context


def object_urls(ctx: Context, hashes: list[str]) -> dict:
    """Unknown or unreadable hashes are left out. When several owners hold a fragment, the
    caller's own copy wins, then the first owner by name, so the answer is deterministic."""
    chosen: dict[str, tuple[str, int]] = {}
    for chunk in chunked(sorted(set(hashes))):
        rows = ctx.session.execute(
            select(Blob.hash, Blob.owner, Blob.size).distinct()
            .join(InstanceBlob, InstanceBlob.blob_id == Blob.id)
            .join(Instance, Instance.id == InstanceBlob.instance_id)
            .join(Package, Package.id == Instance.package_id)
            .where(Blob.hash.in_(chunk), permissions.readable_clause(ctx))
        ).all()
        for hash_, owner, size in rows:
            if hash_ not in chosen or _preferred(ctx, owner, chosen[hash_][0]):
                chosen[hash_] = (owner, size)
    return {"urls": {h: ctx.store.download_url(owner, h) for h, (owner, _) in chosen.items()},
            "sizes": {h: size for h, (_, size) in chosen.items()}}


def _preferred(ctx: Context, owner: str, current: str) -> bool:
    if current == ctx.actor.name:
        return False
    return owner == ctx.actor.name or owner < current
