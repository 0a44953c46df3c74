"""Push (protocol.md 9.2) and subpackage push (9.3): checks, then one transaction."""

from __future__ import annotations

import dataclasses
import json
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event, select

from .. import names, tree
from ..db import utcnow
from ..errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from ..models import Access, Instance, Log, Package
from . import blobs, permissions, readme, tags
from .context import Context
from .instances import find_instance
from .events import PUSH, record_event

log = logging.getLogger(__name__)

MISSING_LIST_LIMIT = 10  # hashes named in an error message
MISSING_DETAIL_LIMIT = 50  # hashes listed in an error's detail: the answer stays a few KB
STAGED_VERIFY_THREADS = 8
MAX_KEYWORDS_CHARS = 1_000_000


@dataclasses.dataclass(frozen=True)
class PushRequest:
    contents: dict
    sizes: dict[str, int]
    dry_run: bool = False
    is_public: bool = False
    is_team: bool = False
    message: str | None = None


def encode_contents(contents: dict) -> bytes:
    return zlib.compress(json.dumps(contents, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def decode_contents(stored: bytes) -> bytes:
    """The stored tree as JSON bytes, exactly as pushed (no re-serialisation)."""
    return zlib.decompress(stored)


def push_instance(ctx: Context, owner: str, name: str, top_hash: str, request: PushRequest) -> dict:
    """A dry run answers `upload_urls`; a real push commits package, instance, blobs, links, log,
    `latest` and event together (the caller commits), after checking every fragment is stored."""
    tree.validate(request.contents, root=True)
    _check_request(ctx, name, request)
    if tree.tophash(request.contents) != top_hash:
        raise BadRequest("Wrong contents hash")
    hashes = tree.object_hashes(request.contents)
    if not request.dry_run and set(request.sizes) != hashes:
        raise BadRequest("Sizes don't match the hashes")
    package = _writable_package(ctx, owner, name, request)
    if request.dry_run:
        return {"upload_urls": _upload_urls(ctx, owner, hashes)}
    known = _check_fragments_stored(ctx, owner, request.sizes)
    package = _locked(ctx, package)
    return _commit_push(ctx, package, owner, name, top_hash, request.contents, request.sizes, known, request)


def push_subpackage(ctx: Context, owner: str, name: str, subpath: list[str], request: PushRequest) -> dict:
    """Put a subtree at `subpath` of the `latest` instance (or of an empty package) and make
    the merged tree the new `latest`. Unlike the original, the new instance is linked to every
    fragment of the merged tree, not only the subtree's (protocol.md 14.5)."""
    if not subpath:
        raise BadRequest("A subpackage push needs a path below the package root")
    tree.validate(request.contents, root=False)
    _check_request(ctx, name, request)
    hashes = tree.object_hashes(request.contents)
    if not request.dry_run and set(request.sizes) != hashes:
        raise BadRequest("Sizes don't match the hashes")
    package = _writable_package(ctx, owner, name, request)
    if request.dry_run:
        _graft(_latest_tree(ctx, package)[0], subpath, request.contents)  # a bad path fails early
        return {"upload_urls": _upload_urls(ctx, owner, hashes)}
    known = _check_fragments_stored(ctx, owner, request.sizes)
    package = _locked(ctx, package)  # before reading `latest`: concurrent merges must not lose one
    base, base_sizes = _latest_tree(ctx, package)
    merged = _graft(base, subpath, request.contents)
    declared = {**base_sizes, **request.sizes}
    sizes = {h: declared[h] for h in tree.object_hashes(merged)}  # what the replaced subtree held is gone
    # The base's fragments have rows already: they are linked to `latest`.
    return _commit_push(ctx, package, owner, name, tree.tophash(merged), merged, sizes, {**base_sizes, **known},
                        request)


def _check_request(ctx: Context, name: str, request: PushRequest) -> None:
    names.check_package_name(name)  # whole-string: `blobs\n` is not `blobs`
    permissions.check_sharing_allowed(ctx, is_public=request.is_public, is_team=request.is_team)


def _writable_package(ctx: Context, owner: str, name: str, request: PushRequest) -> Package | None:
    """The existing package the caller may push to (not locked yet); None when the push creates it."""
    permissions.require_user(ctx.actor)
    package = permissions.find_readable(ctx, owner, name)
    if package is None:
        if ctx.actor.name != owner:
            # Missing, or private to others: the same answer, so nothing leaks.
            raise permissions.package_not_found(ctx.actor, owner, name)
        clash = ctx.session.scalar(select(Package).where(Package.folded_handle == _folded(owner, name)))
        if clash is not None and clash.handle == f"{owner}/{name}":
            # Created by a concurrent first push since the lookup above: push into it.
            package = permissions.find_readable(ctx, owner, name)
        if package is None and clash is not None:
            raise Forbidden(f"Package already exists: {clash.handle}")
        if package is None:
            return None
    permissions.check_push(ctx, package, is_public=request.is_public, is_team=request.is_team)
    return package


def _locked(ctx: Context, package: Package | None) -> Package | None:
    """Lock the package row for the rest of the push. Storage is checked (and staged copies
    verified, which on S3 reads them) before this, so other writers of the package do not wait
    for storage; a first push locks nothing (the unique keys settle a concurrent one)."""
    if package is None:
        return None
    locked = ctx.session.scalars(select(Package).where(Package.id == package.id).with_for_update()).one_or_none()
    if locked is None:  # deleted since it was read
        raise permissions.package_not_found(ctx.actor, package.owner, package.name)
    return locked


def _folded(owner: str, name: str) -> str:
    return f"{owner.lower()}/{name.lower()}"


def _upload_urls(ctx: Context, owner: str, hashes: set[str]) -> dict[str, dict[str, str]]:
    """The client HEADs each fragment and PUTs those that do not answer 200 (protocol.md 8.2).
    A fragment the pusher may reuse is HEADed where it is stored; one it may not reuse (stored
    for a package it cannot read, or not stored at all: the two must look alike) is HEADed and
    PUT at the pusher's own staging key, verified at commit. Only the owner's fragments that are
    not stored yet go straight to `objs/OWNER/`; no PUT URL ever points at a stored fragment."""
    # The client may skip uploading fragments that are stored already; keep them from garbage collection.
    blobs.touch(ctx.session, owner, hashes)
    reusable = permissions.readable_fragments(ctx, owner, hashes)
    store, pusher = ctx.store, ctx.actor.name
    urls = {}
    for h in sorted(hashes):
        if h in reusable:
            # `quilt push --reupload` PUTs it anyway: into staging, where it replaces nothing.
            urls[h] = {"head": store.object_url("HEAD", owner, h), "put": store.staging_url("PUT", owner, pusher, h)}
        elif pusher == owner:
            urls[h] = store.upload_urls(owner, h)
        else:
            urls[h] = {"head": store.staging_url("HEAD", owner, pusher, h),
                       "put": store.staging_url("PUT", owner, pusher, h)}
    return urls


def _commit_push(ctx: Context, package: Package | None, owner: str, name: str, top_hash: str, contents: dict,
                 sizes: dict[str, int], known: dict[str, int], request: PushRequest) -> dict:
    """Write everything of the push; every fragment was checked by `_check_fragments_stored`,
    and those in `known` have a blob row already."""
    if package is None:
        package = _create_package(ctx, owner, name, request)
    instance = _save_instance(ctx, package, top_hash, contents, sizes, known)
    ctx.session.add(Log(package_id=package.id, instance_id=instance.id, author=ctx.actor.name,
                        message=request.message))
    tags.move_tag(ctx, package, instance, tags.LATEST)
    record_event(ctx, PUSH, owner, name, top_hash, {"public": request.is_public})
    if instance.readme_hash:
        readme.index_after_commit(ctx, owner, instance.readme_hash)
    return {"package_url": f"{ctx.base_url}/package/{owner}/{name}", "package_hash": top_hash}


def _check_fragments_stored(ctx: Context, owner: str, sizes: dict[str, int]) -> dict[str, int]:
    """The original trusted the client (protocol.md 14.1); we check, before anything is
    committed, that every fragment is one the pusher may reuse, or one it staged and whose bytes
    hash to its name (then moved into place), or, for the owner, one uploaded into place with
    the declared size. A fragment of a package the pusher cannot read counts as not stored.
    Returns the fragments that have a blob row already, so the commit does not look them up again."""
    reusable = permissions.readable_fragments(ctx, owner, sizes)
    pusher = ctx.actor.name
    staged = {h: size for h, size in ctx.store.staged_sizes(owner, pusher).items() if h in sizes}
    new = set(sizes) - set(reusable)
    direct = (new - set(staged)) if pusher == owner else set()
    found = {**(ctx.store.sizes(owner, direct) if direct else {}), **{h: staged[h] for h in new & set(staged)}}
    missing = sorted(h for h in new if h not in found)
    if missing:
        raise BadRequest(f"{len(missing)} fragment(s) are not in storage; upload them first: {_shown(missing)}",
                         missing=missing[:MISSING_DETAIL_LIMIT])
    wrong = sorted(h for h in new if found[h] != sizes[h])
    if wrong:
        raise BadRequest(f"{len(wrong)} fragment(s) differ in size from the push: "
                         + ", ".join(f"{h} (stored {found[h]}, declared {sizes[h]})" for h in wrong[:MISSING_LIST_LIMIT]))
    # A staged copy of a reusable fragment (`--reupload`) is placed too if the stored bytes went missing.
    accepted = _accept_staged(ctx, owner, pusher, sorted(staged))
    rejected = sorted(h for h in new & set(staged) if not accepted[h])
    if rejected:
        raise BadRequest(f"{len(rejected)} uploaded fragment(s) do not match their hash; upload them again: "
                         f"{_shown(rejected)}", mismatched=rejected[:MISSING_DETAIL_LIMIT])
    return reusable  # what has a blob row already (the owner's: all of them)


def _accept_staged(ctx: Context, owner: str, pusher: str, hashes: list[str]) -> dict[str, bool]:
    if not hashes:
        return {}
    # Reading each staged fragment back (S3) is I/O-bound: a few at once, each in bounded chunks.
    with ThreadPoolExecutor(max_workers=STAGED_VERIFY_THREADS) as pool:
        accepted = dict(zip(hashes, pool.map(lambda h: ctx.store.accept_staged(owner, pusher, h), hashes)))
    # The staged copies go once the push is committed: if this attempt is rolled back and run
    # again (a lock conflict), they are still there to be accepted again; if it fails for good,
    # gc removes them after the grace period.
    placed = [h for h, ok in accepted.items() if ok]

    def discard(_session) -> None:
        try:
            for hash_ in placed:
                ctx.store.discard_staged(owner, pusher, hash_)
        except Exception:  # noqa: BLE001 - the push is committed; gc removes what is left
            log.warning("could not remove staged copies of %s's push to %s", pusher, owner, exc_info=True)

    event.listen(ctx.session, "after_commit", discard, once=True)
    return accepted


def _shown(hashes: list[str]) -> str:
    return ", ".join(hashes[:MISSING_LIST_LIMIT]) + (" ..." if len(hashes) > MISSING_LIST_LIMIT else "")


def _create_package(ctx: Context, owner: str, name: str, request: PushRequest) -> Package:
    package = Package(owner=owner, name=name, folded_handle=_folded(owner, name))
    ctx.session.add(package)
    ctx.session.flush()
    principals = {owner}
    if request.is_public:
        principals.add(permissions.PUBLIC)
    if request.is_team:
        principals.add(permissions.TEAM)
    ctx.session.add_all(Access(package_id=package.id, principal=p) for p in sorted(principals))
    return package


def _save_instance(ctx: Context, package: Package, top_hash: str, contents: dict, sizes: dict[str, int],
                   known: dict[str, int]) -> Instance:
    now = utcnow()
    instance = find_instance(ctx.session, package.id, top_hash)
    if instance is not None:
        # Same tophash again: the tree is immutable; only record who pushed it last.
        instance.updated_at, instance.updated_by = now, ctx.actor.name
        return instance
    stored = encode_contents(contents)
    if len(stored) > ctx.settings.max_contents_bytes:
        # The database could not take the row (MariaDB's max_allowed_packet); say so, not 500.
        raise PayloadTooLarge(f"The package tree takes {len(stored)} bytes compressed; "
                              f"at most {ctx.settings.max_contents_bytes} are allowed")
    instance = Instance(package_id=package.id, hash=top_hash, contents=stored,
                        readme_hash=tree.readme_hash(contents), keywords=_keywords(contents), created_at=now,
                        created_by=ctx.actor.name, updated_at=now, updated_by=ctx.actor.name)
    ctx.session.add(instance)
    ctx.session.flush()
    blobs.link_blobs(ctx.session, instance.id, package.owner, sizes, known)
    return instance


def _keywords(contents: dict) -> str:
    words = sorted(set(tree.node_names(contents)))
    return " ".join(words)[:MAX_KEYWORDS_CHARS]


def _latest_tree(ctx: Context, package: Package | None) -> tuple[dict, dict[str, int]]:
    empty = {"type": tree.ROOT, "children": {}}
    if package is None:
        return empty, {}
    instance = tags.tagged_instance(ctx, package, tags.LATEST)
    if instance is None:
        return empty, {}
    stored = ctx.session.scalar(select(Instance.contents).where(Instance.id == instance.id))
    return json.loads(decode_contents(stored)), blobs.instance_sizes(ctx.session, instance.id)


def _graft(base: dict, subpath: list[str], subtree: dict) -> dict:
    node = base
    for component in subpath[:-1]:
        child = node["children"].setdefault(component, {"type": tree.GROUP, "children": {}})
        if child["type"] not in (tree.ROOT, tree.GROUP):
            raise NotFound(f"Target subpath is not a group node: '{component}'")
        node = child
    node["children"][subpath[-1]] = subtree
    tree.validate(base, root=True)
    return base
