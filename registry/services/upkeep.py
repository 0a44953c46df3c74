"""Storage upkeep for operators: garbage collection, verification, statistics.

Garbage collection removes fragments no instance references any more (after a package was
deleted, or a subpackage push replaced them). It spares every fragment created or touched by a
push within the grace period: a dry run touches the fragments it names, and a client may then
skip uploading those it finds stored, so the grace period must outlast a push (at least the
lifetime of its upload URLs). Rows are deleted before the bytes, and only while still
unreferenced, so a concurrent push either keeps a fragment or re-uploads it, never links a
fragment whose bytes are gone.

Fragment sets are chunks shared by instances (services.fragment_sets): a chunk no instance
holds goes first, then the fragments no chunk holds.

It then removes stored objects that no row names once they are older than the grace period:
staged uploads (`staging/`) of pushes that never completed, and fragments uploaded into
`objs/` or an upload batch (`uploads/`) whose push never came (or failed). A push completes well within the grace period of
its uploads, so only abandoned ones are old enough.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
from collections import defaultdict

from sqlalchemy import delete, exists, func, or_, select, update

from ..db import utcnow
from ..errors import BadRequest, FragmentMissing
from ..models import Blob, ChunkBlob, FragmentChunk, Instance, InstanceChunk, Package, User
from ..storage.base import OBJECTS, STAGING, TEMP_PREFIX, UPLOADS, StoredObject
from ..tree import is_hash
from . import permissions, uploads
from .blobs import CHUNK, chunked
from .context import Context

MISSING, WRONG_SIZE, CORRUPT = "missing", "size", "corrupt"


@dataclasses.dataclass
class OwnerTotals:
    fragments: int = 0
    bytes: int = 0


def _garbage(cutoff: dt.datetime):
    unreferenced = ~exists().where(ChunkBlob.blob_id == Blob.id)
    quiet = func.coalesce(Blob.touched_at, Blob.created_at) < cutoff
    return unreferenced, quiet


def _cutoff(ctx: Context, grace_hours: float) -> dt.datetime:
    permissions.require_admin(ctx.actor)
    if grace_hours * 3600 < ctx.settings.url_expiry_seconds:
        raise BadRequest(f"The grace period must be at least the upload URL lifetime "
                         f"({ctx.settings.url_expiry_seconds / 3600:g} hours): a push may take that long.")
    return utcnow() - dt.timedelta(hours=grace_hours)


def collect_garbage(ctx: Context, *, grace_hours: float, dry_run: bool) -> dict[str, OwnerTotals]:
    """Fragments per owner that are (or, on a dry run, would be) deleted."""
    cutoff = _cutoff(ctx, grace_hours)
    if not dry_run:
        _collect_chunks(ctx)
    unreferenced, quiet = _garbage(cutoff)
    if dry_run:  # what would go once the chunks of deleted instances are gone
        unreferenced = ~exists().where(ChunkBlob.blob_id == Blob.id,
                                       exists().where(InstanceChunk.chunk_id == ChunkBlob.chunk_id))
    rows = ctx.session.execute(select(Blob.id, Blob.owner, Blob.hash, Blob.size, Blob.batch)
                               .where(unreferenced, quiet)).all()
    totals: dict[str, OwnerTotals] = defaultdict(OwnerTotals)
    for chunk in chunked(rows):
        ids = [row.id for row in chunk]
        if not dry_run:
            # Re-checked inside the DELETE: a push may have linked or touched one meanwhile.
            ctx.session.execute(delete(Blob).where(Blob.id.in_(ids), unreferenced, quiet))
            deleted = set(ids) - set(ctx.session.scalars(select(Blob.id).where(Blob.id.in_(ids))))
            # Unlike other services this one commits: the rows must be gone for good before the bytes go.
            ctx.session.commit()
            chunk = [row for row in chunk if row.id in deleted]
            for row in chunk:
                ctx.store.delete(row.owner, row.hash, row.batch)
        for row in chunk:
            totals[row.owner].fragments += 1
            totals[row.owner].bytes += row.size
    _collect_stray_objects(ctx, cutoff.replace(tzinfo=dt.timezone.utc), dry_run, totals)
    return dict(sorted(totals.items()))


def collect_multipart_uploads(ctx: Context, *, grace_hours: float, dry_run: bool) -> int:
    """Abort the multipart uploads started before the grace period and never completed; returns
    how many there are."""
    aborted = uploads.collect(ctx, _cutoff(ctx, grace_hours), dry_run)
    if not dry_run:
        ctx.session.commit()
    return aborted


def _collect_chunks(ctx: Context) -> None:
    """Chunks no instance holds (their instances were deleted); their chunk_blob rows cascade.
    A push that picked one up meanwhile fails on its foreign key and is retried whole."""
    orphaned = select(FragmentChunk.id).where(~exists().where(InstanceChunk.chunk_id == FragmentChunk.id))
    for chunk in chunked(list(ctx.session.scalars(orphaned))):
        ctx.session.execute(delete(ChunkBlob).where(ChunkBlob.chunk_id.in_(chunk)))  # SQLite may not cascade
        ctx.session.execute(delete(FragmentChunk).where(FragmentChunk.id.in_(chunk),
                                                        ~exists().where(InstanceChunk.chunk_id == FragmentChunk.id)))
        ctx.session.commit()


def _collect_stray_objects(ctx: Context, cutoff: dt.datetime, dry_run: bool,
                           totals: dict[str, OwnerTotals]) -> None:
    """Delete objects older than `cutoff` that no fragment row names (listing the store)."""
    for area in (STAGING, OBJECTS, UPLOADS):
        old = (item for item in ctx.store.list_objects(area) if item.modified < cutoff)
        while chunk := list(itertools.islice(old, CHUNK)):  # a bucket may hold millions: a chunk at a time
            for item in _unnamed(ctx, area, chunk):
                if not dry_run:
                    ctx.store.delete_key(item.key)
                owner = totals[item.key.split("/")[1]]
                owner.fragments += 1
                owner.bytes += item.size


def _unnamed(ctx: Context, area: str, items: list[StoredObject]) -> list[StoredObject]:
    """Staged uploads and leftover upload files all; objects in `objs/` or `uploads/` that no
    row names at that key. Keys of any other shape are not ours to delete."""
    stray, wanted = [], defaultdict(dict)
    for item in items:
        parts = item.key.split("/")
        if len(parts) != (3 if area == OBJECTS else 4):
            continue
        name = parts[-1]
        if name.startswith(TEMP_PREFIX) or (area == STAGING and is_hash(name)):
            stray.append(item)
        elif is_hash(name):
            batch = parts[2] if area == UPLOADS else None
            wanted[parts[1]][(name, batch)] = item
    for owner, by_key in wanted.items():
        named = set(ctx.session.execute(select(Blob.hash, Blob.batch).where(
            Blob.owner == owner, Blob.hash.in_(sorted({h for h, _ in by_key})))).all())
        stray.extend(item for key, item in by_key.items() if key not in named)
    return stray


def verify_blobs(ctx: Context, *, owner: str | None = None, deep: bool = False,
                 unverified: bool = False) -> dict[str, list[str]]:
    """Check that each fragment row is stored with its size (and, deep, its SHA-256); record the
    result on the row. `unverified`: only the fragments never checked (say, uploaded by the quilt
    client to a store that does not enforce signed checksums), each against the SHA-256 the
    store computed, or read where it keeps none. Returns the problems found:
    {"missing": [...], "size": [...], "corrupt": [...]}."""
    permissions.require_admin(ctx.actor)
    query = select(Blob.id, Blob.owner, Blob.hash, Blob.size, Blob.batch).order_by(Blob.owner, Blob.hash)
    if owner is not None:
        query = query.where(Blob.owner == owner)
    if unverified:
        query = query.where(Blob.checked_at.is_(None))
    by_place = defaultdict(list)
    for row in ctx.session.execute(query):
        by_place[row.owner, row.batch].append(row)
    problems: dict[str, list[str]] = {MISSING: [], WRONG_SIZE: [], CORRUPT: []}
    now = utcnow()
    for (blob_owner, batch), rows in by_place.items():
        stored = ctx.store.sizes(blob_owner, [row.hash for row in rows], batch)
        for row in rows:
            problem = _check(ctx, row, stored.get(row.hash), deep, unverified)
            if problem:
                problems[problem].append(f"{row.owner}/{row.hash}")
            ctx.session.execute(update(Blob).where(Blob.id == row.id).values(checked_at=now, problem=problem))
    return problems


def _check(ctx: Context, row, stored_size: int | None, deep: bool, unverified: bool) -> str | None:
    if stored_size is None:
        return MISSING
    if stored_size != row.size:
        return WRONG_SIZE
    if unverified and not deep:
        computed = ctx.store.stored_sha256(row.owner, row.hash, row.batch)
        if computed is not None:
            return None if computed == row.hash else CORRUPT
    if deep or unverified:
        digest = hashlib.sha256()
        try:
            for chunk in ctx.store.stream(row.owner, row.hash, row.batch):
                digest.update(chunk)
        except FragmentMissing:  # gone since its size was read (gc, or removed by hand)
            return MISSING
        if digest.hexdigest() != row.hash:
            return CORRUPT
    return None


def stats(ctx: Context) -> dict:
    permissions.require_admin(ctx.actor)
    session = ctx.session
    per_owner = session.execute(select(Blob.owner, func.count(Blob.id), func.coalesce(func.sum(Blob.size), 0))
                                .group_by(Blob.owner).order_by(Blob.owner)).all()
    packages = dict(session.execute(select(Package.owner, func.count(Package.id)).group_by(Package.owner)).all())
    unreferenced = session.scalar(select(func.count(Blob.id)).where(~exists().where(ChunkBlob.blob_id == Blob.id)))
    return {
        "users": session.scalar(select(func.count(User.id))),
        "packages": session.scalar(select(func.count(Package.id))),
        "instances": session.scalar(select(func.count(Instance.id))),
        "fragments": sum(count for _, count, _ in per_owner),
        "bytes": int(sum(size for _, _, size in per_owner)),
        "unreferenced_fragments": unreferenced,
        "flagged_fragments": session.scalar(select(func.count(Blob.id)).where(or_(Blob.problem.is_not(None)))),
        "owners": [{"owner": o, "packages": packages.get(o, 0), "fragments": count, "bytes": int(size)}
                   for o, count, size in per_owner],
    }
