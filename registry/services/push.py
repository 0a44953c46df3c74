"""Push (protocol.md 9.2) and subpackage push (9.3): checks, then one transaction."""

from __future__ import annotations

import collections
import dataclasses
from concurrent.futures import Future
from typing import Callable, Iterable, NamedTuple

from sqlalchemy import select

from .. import exact_json, names, tree
from ..db import utcnow
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import Access, Instance, Log, Package
from . import blobs, fragment_sets, keywords, permissions, push_storage, readme, tags, trees, upload_urls
from .blobs import Stored
from .context import Context
from .instances import find_instance
from .events import PUSH, record_event


@dataclasses.dataclass(frozen=True)
class PushRequest:
    contents: dict
    sizes: dict[str, int]
    dry_run: bool = False
    is_public: bool = False
    is_team: bool = False
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class ChangeRequest:
    """A push as its changes to the instance `base` (see push_changes)."""

    base: str
    changes: dict[str, dict | None]
    sizes: dict[str, int]
    is_public: bool = False
    is_team: bool = False
    message: str | None = None


def push_instance(ctx: Context, owner: str, name: str, top_hash: str, request: PushRequest) -> dict:
    """A dry run answers `upload_urls`; a real push commits package, instance, blobs, links, log,
    `latest` and event together (the caller commits), after checking every fragment is stored.
    The owner's real push to S3 has storage list its upload batch from the start, while the
    tree is checked, hashed and written."""
    with push_storage.batch_listing(ctx, owner, request.sizes, request.dry_run) as listing:
        hashes = tree.validate(request.contents, root=True)
        _check_request(ctx, name, request)
        if tree.tophash(request.contents) != top_hash:
            raise BadRequest("Wrong contents hash")
        if request.dry_run:
            return {"upload_urls": upload_urls.upload_urls(ctx, owner, writable_package(ctx, owner, name, request),
                                                          hashes)}
        if set(request.sizes) != hashes:
            raise BadRequest("Sizes don't match the hashes")
        return _commit_checked(ctx, writable_package(ctx, owner, name, request), owner, name, top_hash, request,
                               listing)


def push_changes(ctx: Context, owner: str, name: str, top_hash: str, request: ChangeRequest) -> dict:
    """A push sent as its changes to an instance of the package (`base`): the new tree is the
    base's with `changes` applied, and `sizes` names exactly the fragments the base does not
    hold. It is then committed as a push of the whole tree would be, so a new instance that
    changes ten files of 100,000 is neither sent nor checked whole."""
    with push_storage.batch_listing(ctx, owner, request.sizes, False) as listing:
        _check_request(ctx, name, request)
        package = writable_package(ctx, owner, name, request)
        base = find_instance(ctx.session, package.id, request.base) if package is not None else None
        if base is None:
            raise Conflict(f"{request.base} is not an instance of {owner}/{name}; push the whole tree instead")
        whole, from_base = _applied(ctx, base, top_hash, request)
        return _commit_checked(ctx, package, owner, name, top_hash, whole, listing, from_base)


def _applied(ctx: Context, base: Instance, top_hash: str, request: ChangeRequest) -> tuple[PushRequest, FromBase]:
    """The push of the whole new tree that `request` describes as changes to `base`, checked."""
    stored = trees.load_stored(ctx.session, base.id)
    contents = exact_json.loads(stored.json)
    words = base.keyword_set_id if tree.same_names(contents, request.changes) else None
    replaced = tree.apply_changes(contents, request.changes)
    computed, found = tree.tophash_and_fragments(contents)
    if computed != top_hash:
        raise BadRequest("Wrong contents hash")
    hashes = set(found)
    new, removed = _fragment_changes(found, hashes, replaced, request.changes.values())
    # The base's fragment set holds every fragment of its tree, unless an older registry kept it.
    if fragment_sets.count(ctx.session, base.id) != len(hashes) - len(new) + len(removed):
        raise Conflict(f"The fragments of {request.base} are not those of its tree; push the whole tree instead")
    if set(request.sizes) != new:
        missing, extra = sorted(new - set(request.sizes)), sorted(set(request.sizes) - new)
        raise BadRequest(f"Sizes must name exactly the fragments that {request.base} does not hold; "
                         f"missing: {_shown(missing)}, not new: {_shown(extra)}")
    whole = PushRequest(contents=contents, sizes=request.sizes, is_public=request.is_public,
                        is_team=request.is_team, message=request.message)
    return whole, FromBase(base.id, removed, stored, words)


def _fragment_changes(found: list[str], hashes: set[str], replaced: list[dict],
                      put: Iterable[dict | None]) -> tuple[set[str], set[str]]:
    """The fragments a changed tree has that its base had not, and those it no longer has,
    from the changes alone: `found` lists every reference of the new tree (`hashes` as a set),
    `replaced` are the base's nodes that the changes replaced or removed and `put` the nodes
    they put. The rest of the tree is the base's, so a fragment put there is new only if the
    new tree references it nowhere else; one replaced is gone only if the new tree lacks it."""
    old = {h for node in replaced for h in tree.fragment_list(node)}
    added = collections.Counter(h for node in put if node is not None for h in tree.fragment_list(node))
    candidates = added.keys() - old
    in_tree = collections.Counter(filter(candidates.__contains__, found))
    return {h for h in candidates if in_tree[h] == added[h]}, old - hashes


def _shown(hashes: list[str], limit: int = 5) -> str:
    return ", ".join(hashes[:limit]) + (f" and {len(hashes) - limit} more" if len(hashes) > limit else "") or "none"


@dataclasses.dataclass(frozen=True)
class FromBase:
    """A new instance's fragments as those of the instance `instance_id` without `removed`, plus
    the push's `sizes` (see fragment_sets.write_changes)."""

    instance_id: int
    removed: set[str]
    tree: trees.StoredTree  # the base's, which the new tree shares most pieces with
    keyword_set_id: int | None = None  # the base's keywords, when the changes keep every name


def _commit_checked(ctx: Context, package: Package | None, owner: str, name: str, top_hash: str,
                    request: PushRequest, listing: push_storage.BatchListing | None,
                    base: FromBase | None = None) -> dict:
    """Commit a push to `package` (see writable_package) after checking that every fragment in
    `request.sizes` is stored; with `base`, those are the new instance's fragments that the base
    instance does not hold."""
    if listing is None:
        # Another user's push (or the local store's): staged copies are read back first,
        # before the package is locked, so its other writers never wait for that.
        existing, fresh = push_storage.check_fragments_stored(ctx, owner, package, request.sizes, None)
        return _commit_push(ctx, _locked(ctx, package), owner, name, top_hash, request.contents,
                            existing, fresh, request, base)
    # The owner's push to S3: while storage lists the batch, the package, the instance and
    # its tree are written (all undone if a fragment is missing). Its other writers wait at
    # most for that listing.
    first_push = package is None
    package = _locked(ctx, package) or _create_package(ctx, owner, name, request)
    ahead: list[Future[_Expected]] = []
    dialect = ctx.session.get_bind().dialect.name

    def prepare_ahead() -> None:
        # While the database writes the instance and its tree, what comes next is prepared in
        # another thread, as it is if every fragment arrived in the batch (as they do for a new
        # package: a later push reuses some of `latest`); it is used only if so.
        ahead.append(listing.ahead(_expected, owner, request.sizes, listing.batch, dialect))

    instance, created = _save_instance(ctx, package, top_hash, request.contents, base,
                                       prepare_ahead if first_push and base is None else None)
    expected = ahead[0].result() if ahead else None
    existing, fresh = push_storage.check_fragments_stored(ctx, owner, package, request.sizes, listing,
                                                          expected.fragments if expected else None)
    return _complete_push(ctx, package, instance, created, existing, fresh, request, base, expected)


class _Expected(NamedTuple):
    """What a new instance writes if every fragment it names arrived in its upload batch, as the
    first push of them does: the fragments as stored (push_storage.check_fragments_stored then
    answers these itself), their blob rows' statements and their fragment set."""

    fragments: dict[str, Stored]
    blob_rows: blobs.PreparedRows | None
    planned: fragment_sets.Planned


def _expected(owner: str, sizes: dict[str, int], batch: str, dialect: str) -> _Expected:
    fragments = {h: Stored(size, batch) for h, size in sizes.items()}
    return _Expected(fragments, blobs.prepare(owner, fragments, dialect), fragment_sets.plan(owner, fragments))


def push_subpackage(ctx: Context, owner: str, name: str, subpath: list[str], request: PushRequest) -> dict:
    """Put a subtree at `subpath` of the `latest` instance (or of an empty package) and make
    the merged tree the new `latest`. Unlike the original, the new instance is linked to every
    fragment of the merged tree, not only the subtree's (protocol.md 14.5)."""
    if not subpath:
        raise BadRequest("A subpackage push needs a path below the package root")
    hashes = tree.validate(request.contents, root=False)
    _check_request(ctx, name, request)
    if not request.dry_run and set(request.sizes) != hashes:
        raise BadRequest("Sizes don't match the hashes")
    package = writable_package(ctx, owner, name, request)
    if request.dry_run:
        _graft(_latest_tree(ctx, package)[0], subpath, request.contents)  # a bad path fails early
        return {"upload_urls": upload_urls.upload_urls(ctx, owner, package, hashes)}
    with push_storage.batch_listing(ctx, owner, request.sizes, request.dry_run) as listing:
        existing, fresh = push_storage.check_fragments_stored(ctx, owner, package, request.sizes, listing)
    package = _locked(ctx, package)  # before reading `latest`: concurrent merges must not lose one
    base, base_fragments = _latest_tree(ctx, package)
    merged = _graft(base, subpath, request.contents)
    # The base's fragments have rows already (they are in `latest`); what the replaced subtree held is gone.
    known = {**base_fragments, **existing}
    kept = tree.object_hashes(merged)
    return _commit_push(ctx, package, owner, name, tree.tophash(merged), merged,
                        {h: f for h, f in known.items() if h in kept and h not in fresh}, fresh, request)


def _check_request(ctx: Context, name: str, request: PushRequest) -> None:
    names.check_package_name(name)  # whole-string: `blobs\n` is not `blobs`
    permissions.check_sharing_allowed(ctx, is_public=request.is_public, is_team=request.is_team)


def writable_package(ctx: Context, owner: str, name: str, request: PushRequest) -> Package | None:
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
    """Lock the package row for the rest of the push; a first push locks nothing (the unique
    keys settle a concurrent one). Where staged copies are verified (on S3 by reading them),
    that is done before this, so other writers of the package do not wait for it."""
    if package is None:
        return None
    locked = ctx.session.scalars(select(Package).where(Package.id == package.id).with_for_update()).one_or_none()
    if locked is None:  # deleted since it was read
        raise permissions.package_not_found(ctx.actor, package.owner, package.name)
    return locked


def _folded(owner: str, name: str) -> str:
    return f"{owner.lower()}/{name.lower()}"


def _commit_push(ctx: Context, package: Package | None, owner: str, name: str, top_hash: str, contents: dict,
                 existing: dict[str, Stored], fresh: dict[str, Stored], request: PushRequest,
                 base: FromBase | None = None) -> dict:
    """Write everything of the push; every fragment was checked by `push_storage.check_fragments_stored`:
    those in `existing` have a blob row already, those in `fresh` get one."""
    if package is None:
        package = _create_package(ctx, owner, name, request)
    instance, created = _save_instance(ctx, package, top_hash, contents, base)
    return _complete_push(ctx, package, instance, created, existing, fresh, request, base)


def _complete_push(ctx: Context, package: Package, instance: Instance, created: bool, existing: dict[str, Stored],
                   fresh: dict[str, Stored], request: PushRequest, base: FromBase | None = None,
                   expected: _Expected | None = None) -> dict:
    """The rest of a push once its instance is saved: the fragments of a new instance, the log
    row, `latest` and the event. What `expected` prepared is used where it holds."""
    if created:
        # Where a concurrent push added a fragment first, its row (and batch) is the one to keep.
        rows, ids = blobs.add_blobs(ctx.session, package.owner, fresh, expected and expected.blob_rows) \
            if fresh else ({}, {})
        if base is None:
            fragment_sets.write(ctx.session, instance.id, package.owner, {**existing, **rows}, ids,
                                expected and expected.planned)
        else:
            fragment_sets.write_changes(ctx.session, instance.id, package.owner, base.instance_id, base.removed,
                                        {**existing, **rows}, ids)
    owner, name, top_hash = package.owner, package.name, instance.hash
    ctx.session.add(Log(package_id=package.id, instance_id=instance.id, author=ctx.actor.name,
                        message=request.message))
    tags.move_tag(ctx, package, instance, tags.LATEST)
    record_event(ctx, PUSH, owner, name, top_hash, {"public": request.is_public})
    if instance.readme_hash:
        readme.index_after_commit(ctx, owner, instance.readme_hash)
    return {"package_url": f"{ctx.base_url}/package/{owner}/{name}", "package_hash": top_hash}


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


def _save_instance(ctx: Context, package: Package, top_hash: str, contents: dict, base: FromBase | None = None,
                   meanwhile: Callable[[], object] | None = None) -> tuple[Instance, bool]:
    """The instance with its tree, and whether it is new. A new one's tree is cut, hashed and
    compressed first; then `meanwhile` is called (to start work in another thread) and the
    rows are written, a few statements that the database takes most of the time for."""
    now = utcnow()
    instance = find_instance(ctx.session, package.id, top_hash)
    if instance is not None:
        # Same tophash again: the tree is immutable; only record who pushed it last.
        instance.updated_at, instance.updated_by = now, ctx.actor.name
        return instance, False
    prepared = trees.prepare(ctx.session, contents, base.tree if base is not None else None)
    kept_words = base.keyword_set_id if base is not None else None
    words = keywords.words_of(contents) if kept_words is None else None
    if meanwhile is not None:
        meanwhile()
    instance = Instance(package_id=package.id, hash=top_hash, readme_hash=tree.readme_hash(contents),
                        keyword_set_id=kept_words if words is None else keywords.keyword_set(ctx.session, words),
                        created_at=now, created_by=ctx.actor.name, updated_at=now, updated_by=ctx.actor.name)
    ctx.session.add(instance)
    ctx.session.flush()
    trees.store(ctx.session, instance.id, prepared, max_bytes=ctx.settings.max_contents_bytes)
    return instance, True


def _latest_tree(ctx: Context, package: Package | None) -> tuple[dict, dict[str, Stored]]:
    empty = {"type": tree.ROOT, "children": {}}
    if package is None:
        return empty, {}
    instance = tags.tagged_instance(ctx, package, tags.LATEST)
    if instance is None:
        return empty, {}
    return trees.load_tree(ctx.session, instance.id), blobs.instance_fragments(ctx.session, instance.id)


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
