"""`POST /api/get_objects`: download URLs for fragments of packages the caller can read."""

from __future__ import annotations

from sqlalchemy import select

from ..models import Blob, ChunkBlob, Instance, InstanceChunk, Package
from . import permissions
from .bulk import chunked
from .context import Context


def object_urls(ctx: Context, hashes: list[str]) -> dict:
    """Unknown or unreadable hashes are left out. When several owners hold a fragment, the
    caller's own copy wins, then the first owner by name, so the answer is deterministic."""
    chosen: dict[str, tuple[str, int, str | None]] = {}
    for chunk in chunked(sorted(set(hashes))):
        rows = ctx.session.execute(
            select(Blob.hash, Blob.owner, Blob.size, Blob.batch).distinct()
            .join(ChunkBlob, ChunkBlob.blob_id == Blob.id)
            .join(InstanceChunk, InstanceChunk.chunk_id == ChunkBlob.chunk_id)
            .join(Instance, Instance.id == InstanceChunk.instance_id)
            .join(Package, Package.id == Instance.package_id)
            .where(Blob.hash.in_(chunk), permissions.readable_clause(ctx))
        ).all()
        for hash_, owner, size, batch in rows:
            if hash_ not in chosen or _preferred(ctx, owner, chosen[hash_][0]):
                chosen[hash_] = (owner, size, batch)
    return {"urls": {h: ctx.store.download_url(owner, h, batch) for h, (owner, _, batch) in chosen.items()},
            "sizes": {h: size for h, (_, size, _) in chosen.items()}}


def _preferred(ctx: Context, owner: str, current: str) -> bool:
    if current == ctx.actor.name:
        return False
    return owner == ctx.actor.name or owner < current
