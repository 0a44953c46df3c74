"""Push and install (protocol.md 9.2, 9.4, 9.6): the core of the registry."""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from sqlalchemy import select

from .. import tree
from ..db import epoch, utcnow
from ..errors import BadRequest, Forbidden, NotFound
from ..models import Access, Instance, Log, Package
from . import blobs, permissions, tags
from .context import Context
from .events import INSTALL, PUSH, record_event

PACKAGE_NAME_RE = re.compile(r"^[a-zA-Z]\w{0,63}$", re.ASCII)
MISSING_LIST_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class PushRequest:
    contents: dict
    sizes: dict[str, int]
    dry_run: bool = False
    is_public: bool = False
    is_team: bool = False
    message: str | None = None


def hash_not_found() -> NotFound:
    return NotFound("Package hash does not exist")


def encode_contents(contents: dict) -> bytes:
    return zlib.compress(json.dumps(contents, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def decode_contents(stored: bytes) -> bytes:
    """The stored tree as JSON bytes, exactly as pushed (no re-serialisation)."""
    return zlib.decompress(stored)


# Push

def push_instance(ctx: Context, owner: str, name: str, top_hash: str, request: PushRequest):
    """A dry run answers `upload_urls`; a real push commits package, instance, blobs, links, log,
    `latest` and event together (the caller commits), after checking every fragment is stored."""
    permissions.require_user(ctx.actor)
    if not PACKAGE_NAME_RE.match(name):
        raise BadRequest("Invalid package name")
    tree.validate(request.contents, root=True)
    permissions.check_sharing_allowed(ctx, is_public=request.is_public, is_team=request.is_team)
    if tree.tophash(request.contents) != top_hash:
        raise BadRequest("Wrong contents hash")
    hashes = tree.object_hashes(request.contents)
    if not request.dry_run and set(request.sizes) != hashes:
        raise BadRequest("Sizes don't match the hashes")

    package = _writable_package(ctx, owner, name, request)
    if request.dry_run:
        return {"upload_urls": _upload_urls(ctx, owner, sorted(hashes))}

    _check_fragments_stored(ctx, owner, request.sizes)
    if package is None:
        package = _create_package(ctx, owner, name, request)
    instance = _save_instance(ctx, package, top_hash, request)
    ctx.session.add(Log(package_id=package.id, instance_id=instance.id, author=ctx.actor.name,
                        message=request.message))
    tags.move_tag(ctx, package, instance, tags.LATEST)
    record_event(ctx, PUSH, owner, name, top_hash, {"public": request.is_public})
    return {"package_url": f"{ctx.base_url}/package/{owner}/{name}", "package_hash": top_hash}


def _writable_package(ctx: Context, owner: str, name: str, request: PushRequest) -> Package | None:
    """The existing package, locked for the push; None when the push would create it."""
    package = permissions.find_readable(ctx, owner, name, for_update=not request.dry_run)
    if package is None:
        # An unreadable existing package gets the same answer as a missing one.
        permissions.check_new_package(ctx, owner)
        folded = f"{owner.lower()}/{name.lower()}"
        clash = ctx.session.scalar(select(Package).where(Package.folded_handle == folded))
        if clash is not None:
            raise Forbidden(f"Package already exists: {clash.handle}")
        return None
    permissions.check_push(ctx, package, is_public=request.is_public, is_team=request.is_team)
    return package


def _upload_urls(ctx: Context, owner: str, hashes: list[str]) -> dict[str, dict[str, str]]:
    return {h: ctx.store.upload_urls(owner, h) for h in hashes}


def _check_fragments_stored(ctx: Context, owner: str, sizes: dict[str, int]) -> None:
    """The original trusted the client (protocol.md 14.1); we check every new fragment is in
    storage with the declared size before anything is committed."""
    new = set(sizes) - set(blobs.known_sizes(ctx.session, owner, sizes))
    if not new:
        return
    stored = ctx.store.sizes(owner, new)
    missing = sorted(h for h in new if h not in stored)
    if missing:
        shown = ", ".join(missing[:MISSING_LIST_LIMIT]) + (" ..." if len(missing) > MISSING_LIST_LIMIT else "")
        raise BadRequest(f"{len(missing)} fragment(s) are not in storage; upload them first: {shown}",
                         missing=missing[:1000])
    wrong = sorted(h for h in new if stored[h] != sizes[h])
    if wrong:
        raise BadRequest(f"{len(wrong)} fragment(s) differ in size from the push: "
                         + ", ".join(f"{h} (stored {stored[h]}, declared {sizes[h]})" for h in wrong[:MISSING_LIST_LIMIT]))


def _create_package(ctx: Context, owner: str, name: str, request: PushRequest) -> Package:
    package = Package(owner=owner, name=name, folded_handle=f"{owner.lower()}/{name.lower()}")
    ctx.session.add(package)
    ctx.session.flush()
    principals = {owner}
    if request.is_public:
        principals.add(permissions.PUBLIC)
    if request.is_team:
        principals.add(permissions.TEAM)
    ctx.session.add_all(Access(package_id=package.id, principal=p) for p in sorted(principals))
    return package


def _save_instance(ctx: Context, package: Package, top_hash: str, request: PushRequest) -> Instance:
    now = utcnow()
    instance = ctx.session.scalar(select(Instance).where(Instance.package_id == package.id, Instance.hash == top_hash))
    if instance is not None:
        # Same tophash again: the tree is immutable; only record who pushed it last.
        instance.updated_at, instance.updated_by = now, ctx.actor.name
        return instance
    instance = Instance(package_id=package.id, hash=top_hash, contents=encode_contents(request.contents),
                        readme_hash=tree.readme_hash(request.contents), created_at=now,
                        created_by=ctx.actor.name, updated_at=now, updated_by=ctx.actor.name)
    ctx.session.add(instance)
    ctx.session.flush()
    blobs.link_blobs(ctx.session, instance.id, package.owner, request.sizes)
    return instance


# Install

def parse_meta_only(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("", "false", "0", "no"):
        return False
    if lowered in ("true", "1", "yes"):
        return True
    raise BadRequest(f"meta_only must be 'true' or empty, not {value!r}")


def parse_subpath(value: str) -> list[str]:
    return [part for part in value.split("/") if part]


def get_instance(ctx: Context, owner: str, name: str, top_hash: str, *, subpath: list[str],
                 meta_only: bool) -> tuple[bytes, dict]:
    """The stored tree (raw JSON bytes) and the rest of the install response."""
    package = permissions.find_readable(ctx, owner, name)
    if package is None:
        raise hash_not_found()
    instance = ctx.session.scalar(select(Instance).where(Instance.package_id == package.id, Instance.hash == top_hash))
    if instance is None:
        raise hash_not_found()
    raw = decode_contents(ctx.session.scalar(select(Instance.contents).where(Instance.id == instance.id)))
    sizes = blobs.instance_sizes(ctx.session, instance.id)
    if subpath or meta_only:
        # Only this case needs the tree parsed; a whole install just streams it back.
        wanted = tree.object_hashes(tree.subtree(json.loads(raw), subpath), meta_only=meta_only)
        sizes = {h: sizes[h] for h in wanted}
    urls = {h: ctx.store.download_url(package.owner, h) for h in sizes}
    record_event(ctx, INSTALL, owner, name, top_hash, {"subpath": "/".join(subpath) or None})
    return raw, {"urls": urls, "sizes": sizes, "created_by": instance.created_by,
                 "created_at": epoch(instance.created_at), "updated_by": instance.updated_by,
                 "updated_at": epoch(instance.updated_at)}


# Listing

def list_instance_hashes(ctx: Context, owner: str, name: str) -> list[str]:
    package = permissions.readable_package(ctx, owner, name)
    return list(ctx.session.scalars(select(Instance.hash).where(Instance.package_id == package.id)
                                    .order_by(Instance.id)))


def list_owner_packages(ctx: Context, owner: str) -> list[dict]:
    """The owner's packages the caller may read, by name, with their sharing flags."""
    packages = ctx.session.scalars(select(Package).where(Package.owner == owner, permissions.readable_clause(ctx))
                                   .order_by(Package.name)).all()
    shared = _sharing_flags(ctx, [p.id for p in packages])
    return [{"name": p.name, "is_public": (p.id, permissions.PUBLIC) in shared,
             "is_team": (p.id, permissions.TEAM) in shared} for p in packages]


def _sharing_flags(ctx: Context, package_ids: list[int]) -> set[tuple[int, str]]:
    if not package_ids:
        return set()
    return set(ctx.session.execute(
        select(Access.package_id, Access.principal)
        .where(Access.package_id.in_(package_ids), Access.principal.in_((permissions.PUBLIC, permissions.TEAM)))
    ).all())

