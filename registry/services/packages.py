"""Reading packages: install (protocol.md 9.4), listings (9.6), preview (9.11.4), deletion."""

from __future__ import annotations

import collections
import dataclasses
import json
import posixpath
import threading
import weakref
from typing import Iterator

from sqlalchemy import and_, bindparam, delete, func, select

from .. import names, tree
from ..db import epoch
from ..errors import BadRequest, NotFound
from ..models import Access, Blob, ChunkBlob, Instance, InstanceChunk, InstancePiece, Log, Package
from . import blobs, keyset, permissions, tags, trees, versions
from .context import Context
from .instances import find_instance
from .events import DELETE, INSTALL, PREVIEW, record_event

PREVIEW_CHILDREN = 10
PREVIEW_DEPTH = 4
README_PREVIEW_CHARS = 1024


def hash_not_found() -> NotFound:
    return NotFound("Package hash does not exist")


def parse_meta_only(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("", "false", "0", "no"):
        return False
    if lowered in ("true", "1", "yes"):
        return True
    raise BadRequest(f"meta_only must be 'true' or empty, not {value!r}")


def parse_subpath(value: str) -> list[str]:
    return [part for part in value.split("/") if part]


def _readable_instance(ctx: Context, owner: str, name: str, top_hash: str) -> tuple[Package, Instance]:
    """Package and instance, or the same 404 whether the package, the hash or the right to read is missing."""
    package = permissions.find_readable(ctx, owner, name)
    instance = package and find_instance(ctx.session, package.id, top_hash)
    if instance is None:
        raise hash_not_found()
    return package, instance


def _tree_json(ctx: Context, instance: Instance) -> bytes:
    return trees.load(ctx.session, instance.id)


_INSTALL: dict[bool, object] = {}


def _install_statement(ctx: Context):
    """The readable package's instance, in one statement built once per kind of caller (no ORM
    objects: an install reads these columns once). Asked on every install, of the database or
    of the read cache, which forgets its answer at the next write anywhere."""
    key = ctx.actor.is_operator
    statement = _INSTALL.get(key)
    if statement is None:
        statement = (
            select(Package.owner, Instance.id, Instance.created_by, Instance.created_at, Instance.updated_by,
                   Instance.updated_at)
            .join(Instance, and_(Instance.package_id == Package.id, Instance.hash == bindparam("hash")))
            .where(Package.owner == bindparam("owner"), Package.name == bindparam("name"),
                   permissions.readable_clause(ctx, prebuilt=True)))
        statement = _INSTALL.setdefault(key, statement)
    return statement


class InstanceCache:
    """What an install reads of an instance that never changes once pushed: its tree (JSON
    bytes) and all its fragments (blobs.instance_fragments), per process and database, least
    recently used out first, bounded in bytes. Keyed by instance id, tophash and creation time,
    so a row id that a database hands out again (SQLite may, after a deletion) never finds
    another instance's entry. Nothing about who may read a package is kept here: every install
    asks that first (_install_statement), and a deleted package is gone for it at once."""

    MAX_BYTES = 32 * 1024 * 1024  # per process
    MAX_ENTRY_BYTES = 4 * 1024 * 1024  # bigger trees are read each time (they cost far more to send)
    FRAGMENT_BYTES = 200  # about what one fragment's entry takes

    def __init__(self):
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key) -> tuple[bytes, dict] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value: tuple[bytes, dict]) -> None:
        cost = len(value[0]) + self.FRAGMENT_BYTES * len(value[1])
        if cost > self.MAX_ENTRY_BYTES:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (value, cost)
            self._bytes += cost
            while self._bytes > self.MAX_BYTES:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped


_instance_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> InstanceCache
_caches_lock = threading.Lock()


def instance_cache(ctx: Context) -> InstanceCache:
    engine = ctx.session.get_bind()
    cache = _instance_caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _instance_caches.setdefault(engine, InstanceCache())
    return cache


def _tree_and_fragments(ctx: Context, instance_id: int, top_hash: str, created_at) -> tuple[bytes, dict]:
    """The instance's tree and all its fragments, from the cache or the database (never to be
    changed by the caller: they may be the cache's own)."""
    cache = instance_cache(ctx)
    key = (instance_id, top_hash, created_at)
    found = cache.get(key)
    if found is None:
        found = (trees.load(ctx.session, instance_id), blobs.instance_fragments(ctx.session, instance_id))
        cache.put(key, found)
    return found


@dataclasses.dataclass(frozen=True)
class Installed:
    contents: bytes  # the stored tree, JSON, as stored
    urls: dict[str, str]  # fragment hash -> download URL
    sizes: dict[str, int]
    instance: object  # who made it and when: created_by, created_at, updated_by, updated_at


def get_instance(ctx: Context, owner: str, name: str, top_hash: str, *, subpath: list[str],
                 meta_only: bool) -> Installed:
    """What an install needs: the stored tree and where to download its fragments."""
    row = None
    if tree.is_hash(top_hash):  # anything else is a 404 without a query (see instances.find_instance)
        row = ctx.reads.first(ctx.session, f"install-{ctx.actor.is_operator}", _install_statement(ctx),
                              {"owner": owner, "name": name, "hash": top_hash, **permissions.readable_params(ctx)})
    if row is None:  # the same 404 whether the package, the hash or the right to read is missing
        raise hash_not_found()
    raw, fragments = _tree_and_fragments(ctx, row.id, top_hash, row.created_at)
    if subpath or meta_only:
        # Only this case needs the tree parsed; a whole install just streams it back. Narrowed
        # as blobs.instance_fragments(session, id, wanted) narrows: in the order of `wanted`.
        wanted = tree.object_hashes(tree.subtree(json.loads(raw), subpath), meta_only=meta_only)
        fragments = {h: fragments[h] for h in wanted if h in fragments}
    download_url, package_owner = ctx.store.download_url, row.owner
    sizes = {h: f.size for h, f in fragments.items()}
    urls = {h: download_url(package_owner, h, f.batch) for h, f in fragments.items()}
    record_event(ctx, INSTALL, owner, name, top_hash, {"subpath": "/".join(subpath) or None})
    return Installed(raw, urls, sizes, row)


def _readme_url(ctx: Context, package: Package, readme_hash: str | None) -> str | None:
    if not readme_hash:
        return None
    batch = ctx.session.scalar(select(Blob.batch).where(Blob.owner == package.owner, Blob.hash == readme_hash))
    return ctx.store.download_url(package.owner, readme_hash, batch)


def instance_hashes(ctx: Context, owner: str, name: str) -> Iterator[str]:
    """The tophash of every instance, oldest first. Permission is checked and the first are read
    at once; the rest a batch at a time as they are taken (services.keyset), one step each into
    the index (package_id, id)."""
    package = permissions.readable_package(ctx, owner, name)
    # Named: MariaDB may otherwise read them by (package_id, hash), which holds both columns.
    batches = keyset.batches(ctx.session, select(Instance.id, Instance.hash).where(Instance.package_id == package.id),
                             Instance.id, index="ix_instance_package_id_id")
    return (row.hash for rows in batches for row in rows)


def summarize(ctx: Context, packages: list[Package]) -> list[dict]:
    """`{"owner", "name", "is_public", "is_team"}` for each package, in one query for the flags."""
    shared = set()
    if packages:
        shared = set(ctx.session.execute(
            select(Access.package_id, Access.principal)
            .where(Access.package_id.in_([p.id for p in packages]),
                   Access.principal.in_((permissions.PUBLIC, permissions.TEAM)))).all())
    return [{"owner": p.owner, "name": p.name, "is_public": (p.id, permissions.PUBLIC) in shared,
             "is_team": (p.id, permissions.TEAM) in shared} for p in packages]


def owner_package_entries(ctx: Context, owner: str) -> Iterator[dict]:
    """The owner's packages the caller may read, by name, with their sharing flags: one
    statement per batch (services.keyset) walking the key (owner, name), the flags as columns."""
    if not names.is_username(owner):
        raise names.impossible("user", owner)
    query = select(Package.name, permissions.shared_with(permissions.PUBLIC).label("is_public"),
                   permissions.shared_with(permissions.TEAM).label("is_team")) \
        .where(Package.owner == owner, permissions.readable_clause(ctx))
    return ({"name": row.name, "is_public": bool(row.is_public), "is_team": bool(row.is_team)}
            for rows in keyset.batches(ctx.session, query, Package.name) for row in rows)


def delete_package(ctx: Context, owner: str, name: str) -> None:
    """Instances, log, tags, versions, access and comments go (database cascades); blob rows and
    stored fragments stay for garbage collection, as other packages of the owner may share them."""
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.require_owner(ctx, package, "Only the package owner can delete packages.")
    instance_ids = select(Instance.id).where(Instance.package_id == package.id)
    # Explicit deletes of the big child tables: SQLite and MySQL both cascade, but this keeps
    # the work in a few set-based statements instead of relying on row-by-row cascades.
    ctx.session.execute(delete(InstanceChunk).where(InstanceChunk.instance_id.in_(instance_ids)))
    ctx.session.execute(delete(InstancePiece).where(InstancePiece.instance_id.in_(instance_ids)))
    ctx.session.execute(delete(Log).where(Log.package_id == package.id))
    ctx.session.execute(delete(Package).where(Package.id == package.id))
    record_event(ctx, DELETE, owner, name)


def preview(ctx: Context, owner: str, name: str, top_hash: str) -> dict:
    package, instance = _readable_instance(ctx, owner, name, top_hash)
    contents = json.loads(_tree_json(ctx, instance))
    readme_text = None
    if instance.readme_hash:
        readme_text = ctx.session.scalar(select(Blob.preview).where(Blob.owner == package.owner,
                                                                    Blob.hash == instance.readme_hash))
    is_public, is_team = permissions.access_flags(ctx, package)
    total = sum(blobs.instance_sizes(ctx.session, instance.id).values())
    log_count = ctx.session.scalar(select(func.count(Log.id)).where(Log.package_id == package.id))
    record_event(ctx, PREVIEW, owner, name, top_hash)
    return {
        "preview": _outline(contents, PREVIEW_DEPTH),
        "readme_url": _readme_url(ctx, package, instance.readme_hash),
        "readme_preview": readme_text,
        "created_by": instance.created_by, "created_at": instance.created_at,
        "updated_by": instance.updated_by, "updated_at": instance.updated_at,
        "is_public": is_public, "is_team": is_team,
        "total_size_uncompressed": int(total),
        "file_types": _file_types(contents),
        "log_count": log_count,
    }


def _outline(group: dict, budget: int) -> list:
    """protocol.md 9.11.4: up to 10 children a group, 4 levels deep, "..." for the rest."""
    children = sorted(group["children"].items())
    if budget == 0:
        return [["...", None]] if children else []
    shown = [[name, _outline(child, budget - 1) if "children" in child else None]
             for name, child in children[:PREVIEW_CHILDREN]]
    return shown + ([["...", None]] if len(children) > PREVIEW_CHILDREN else [])


def _file_types(contents: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in tree.walk(contents):
        if node["type"] in (tree.FILE, tree.TABLE):
            path = node.get("metadata", {}).get("q_path")
            suffix = posixpath.splitext(path.replace("\\", "/"))[1].lstrip(".").lower() if isinstance(path, str) else ""
            counts[suffix] = counts.get(suffix, 0) + 1
    return counts


def catalogue(ctx: Context, owner: str | None = None) -> list[dict]:
    """Every readable package (all of them for the operator) with its size of history."""
    instances = (select(Instance.package_id, func.count(Instance.id).label("instances"),
                        func.max(Instance.updated_at).label("updated")).group_by(Instance.package_id).subquery())
    query = (select(Package, instances.c.instances, instances.c.updated)
             .outerjoin(instances, instances.c.package_id == Package.id)
             .where(permissions.readable_clause(ctx)).order_by(Package.owner, Package.name))
    if owner is not None:
        query = query.where(Package.owner == owner)
    rows = ctx.session.execute(query).all()
    items = summarize(ctx, [package for package, _, _ in rows])
    for item, (_, count, updated) in zip(items, rows):
        item.update(instances=count or 0, updated_at=epoch(updated))
    return items


def describe(ctx: Context, owner: str, name: str) -> dict:
    """One package for an operator: sharing, tags, versions, history and stored size."""
    package = permissions.readable_package(ctx, owner, name)
    size = ctx.session.scalar(
        select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.id.in_(
            select(ChunkBlob.blob_id).join(InstanceChunk, InstanceChunk.chunk_id == ChunkBlob.chunk_id)
            .join(Instance, Instance.id == InstanceChunk.instance_id).where(Instance.package_id == package.id))))
    access = ctx.session.scalars(select(Access.principal).where(Access.package_id == package.id)
                                 .order_by(Access.principal)).all()
    return {**summarize(ctx, [package])[0], "created_at": epoch(package.created_at),
            "instances": ctx.session.scalar(select(func.count(Instance.id)).where(Instance.package_id == package.id)),
            "pushes": ctx.session.scalar(select(func.count(Log.id)).where(Log.package_id == package.id)),
            "bytes": int(size), "access": list(access), "tags": list(tags.tag_entries(ctx, owner, name)),
            "versions": list(versions.version_entries(ctx, owner, name))}
