"""A dry run's answer (protocol.md 8.2): a HEAD and a PUT URL for each fragment of a push, and
which fragments the pusher may skip uploading."""

from __future__ import annotations

from ..models import Package
from . import blobs, permissions, push_storage
from .blobs import Stored
from .context import Context


def reusable_for_upload(ctx: Context, owner: str, package: Package | None, hashes) -> dict[str, Stored]:
    """The fragments a client about to upload may skip, kept from garbage collection meanwhile:
    those of the package's `latest` instance (which it may read: it pushes to it), read as one
    fragment set, and those of the rest that `permissions.readable_fragments` finds. A new
    instance that changes a few fragments of a big one so costs a few hundred rows, not a lookup
    per fragment. Those no instance holds (only the second part may hold such leftovers of the
    owner) are touched."""
    in_latest = push_storage.in_latest_of(ctx, package, hashes)
    rest = [h for h in hashes if h not in in_latest]
    elsewhere = permissions.readable_fragments(ctx, owner, rest)
    blobs.touch(ctx.session, owner, elsewhere)
    return {**in_latest, **elsewhere}


def upload_urls(ctx: Context, owner: str, package: Package | None, hashes: set[str]) -> dict[str, dict[str, str]]:
    """The client HEADs each fragment and PUTs those that do not answer 200 (protocol.md 8.2).
    A fragment the pusher may reuse is HEADed where it is stored; one it may not reuse (stored
    for a package it cannot read, or not stored at all: the two must look alike) is HEADed and
    PUT at the pusher's own staging key, verified at commit. Only the owner's fragments that are
    not stored yet go straight to their key (on S3, in the push's upload batch: see
    BlobStore.upload_batch); no PUT URL ever points at a stored fragment."""
    store, pusher = ctx.store, ctx.actor.name
    ordered = sorted(hashes)
    reusable = reusable_for_upload(ctx, owner, package, ordered)  # sorted: the lookup's order
    reused = [h for h in ordered if h in reusable]
    unknown = [h for h in ordered if h not in reusable]
    heads: dict[str, str] = {}
    puts: dict[str, str] = {}
    by_batch: dict[str | None, list[str]] = {}
    for h in reused:
        by_batch.setdefault(reusable[h].batch, []).append(h)
    for batch, chosen in by_batch.items():
        heads.update(zip(chosen, store.object_urls("HEAD", owner, chosen, batch)))
    if pusher == owner:
        batch = store.upload_batch(owner, ordered)  # it sorts them: a sorted list costs a pass
        heads.update(zip(unknown, store.object_urls("HEAD", owner, unknown, batch)))
        puts.update(zip(unknown, store.object_urls("PUT", owner, unknown, batch)))
        staged = reused  # `quilt push --reupload` PUTs those anyway: into staging, replacing nothing
    else:
        heads.update(zip(unknown, store.staging_urls("HEAD", owner, pusher, unknown)))
        staged = ordered
    puts.update(zip(staged, store.staging_urls("PUT", owner, pusher, staged)))
    return {h: {"head": heads[h], "put": puts[h]} for h in ordered}
