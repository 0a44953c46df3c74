"""Where a push's fragments are: checked in storage before the push is committed (protocol.md
14.1: the original trusted the client), at a cost that follows the push, never what the owner
stored before."""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

from sqlalchemy import event

from ..errors import BadRequest
from ..models import Package
from . import blobs, permissions, tags
from .blobs import Stored
from .context import Context

log = logging.getLogger(__name__)
T = TypeVar("T")

MISSING_LIST_LIMIT = 10  # hashes named in an error message
MISSING_DETAIL_LIMIT = 50  # hashes listed in an error's detail: the answer stays a few KB
STAGED_VERIFY_THREADS = 8
# New fragments a push names that are neither in its upload batch nor staged are HEADed where
# older registries put them (objs/OWNER/); beyond this many, the rest count as missing, so a
# push that names 100,000 fragments it never uploaded costs a listing, not 100,000 HEADs.
MAX_UNBATCHED_CHECKS = 500
BATCH_SAMPLE = 100  # fragments of an upload batch looked up to tell whether it was pushed before
WHOLE_SET_FROM = 1_000  # fragments named: from here on, `latest`'s whole set is read instead of rows


@dataclasses.dataclass(frozen=True)
class BatchListing:
    batch: str
    arrived: Future  # of {hash: size} under the batch's prefix
    _pool: ThreadPoolExecutor

    def ahead(self, work: Callable[..., T], *args) -> Future[T]:
        """`work(*args)` in the listing's second thread: CPU work that touches neither the
        database nor the request, done while the request waits on the database (see push)."""
        return self._pool.submit(work, *args)


@contextlib.contextmanager
def batch_listing(ctx: Context, owner: str, sizes: dict[str, int], dry_run: bool) -> Iterator[BatchListing | None]:
    """A real push by the owner lists its upload batch (S3; see BlobStore.upload_batch) in the
    background from here on: storage answers 100,000 keys in about as long as the registry takes
    to serialise the tree and write the instance, so the two overlap. Nothing else is done in
    that thread: the request's database session stays in its own. Leaving the block without
    waiting (a refused push) leaves the listing (and work done ahead) to end by itself; its
    answer is dropped."""
    batch = ctx.store.upload_batch(owner, sizes) if not dry_run and ctx.actor.name == owner else None
    if batch is None:
        yield None
        return
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="batch-listing")
    try:
        yield BatchListing(batch, pool.submit(ctx.store.batch_sizes, owner, batch, len(sizes)), pool)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def in_latest_of(ctx: Context, package: Package | None, hashes) -> dict[str, Stored]:
    """Those of `hashes` that the package's `latest` instance holds, read as one fragment set:
    for a push that names many fragments. A few (say, the new ones of a push of changes) are
    looked up one by one for less (permissions.readable_fragments finds those of `latest` too)."""
    if len(hashes) < WHOLE_SET_FROM:
        return {}
    latest = tags.tagged_instance(ctx, package, tags.LATEST) if package is not None else None
    if latest is None:
        return {}
    fragments = blobs.instance_fragments(ctx.session, latest.id)
    return {h: fragments[h] for h in hashes if h in fragments}


def check_fragments_stored(ctx: Context, owner: str, package: Package | None, sizes: dict[str, int],
                           listing: BatchListing | None, expected: dict[str, Stored] | None = None,
                           ) -> tuple[dict[str, Stored], dict[str, Stored]]:
    """The original trusted the client (protocol.md 14.1); we check, before anything is
    committed, that every fragment is one the pusher may reuse, or one it staged and whose bytes
    hash to its name (then moved into place), or, for the owner, one uploaded into the push's
    batch (or into place) with the declared size. A fragment of a package the pusher cannot
    read counts as not stored. What it costs follows the push, never what the owner stored
    before: one listing of the batch and of the pusher's staging area, a few HEADs at most.
    Returns the fragments with a blob row already and the new ones, where each is stored.
    `expected` is every fragment as it is stored if all arrived in the listed batch: if that is
    so, it is what this returns as new (without a step per fragment)."""
    pusher, store = ctx.actor.name, ctx.store
    in_latest = in_latest_of(ctx, package, sizes)
    listed: dict[str, Stored] = {}
    if listing is not None:
        # What arrived in the push's batch is new: not looked up (100,000 index probes for a
        # fresh push). If another push added a row for one meanwhile, add_blobs keeps that row.
        batch = listing.batch
        arrived = listing.arrived.result()
        if expected is not None and not in_latest and arrived == sizes:
            listed = expected  # the same, built ahead
        else:
            listed = {h: Stored(size, batch) for h, size in arrived.items() if h in sizes and h not in in_latest}
    rest = [] if listed is expected else [h for h in sizes if h not in in_latest and h not in listed]
    if listed and permissions.readable_fragments(ctx, owner, heapq.nsmallest(BATCH_SAMPLE, listed)):
        # The batch was pushed before (the same files to another package): its rows exist, and
        # looking them up costs far less than inserting them again.
        rest += list(listed)
    reusable = {**in_latest, **permissions.readable_fragments(ctx, owner, rest)}
    staged = {h: size for h, size in store.staged_sizes(owner, pusher).items() if h in sizes}
    if listed is expected and not reusable and not staged:
        return {}, expected  # all new, all in the batch with their sizes: what the rest would find
    new = set(sizes) - set(reusable)
    found: dict[str, Stored] = {h: Stored(staged[h]) for h in new & set(staged)}  # moved to objs/ if accepted
    if pusher == owner:
        found.update((h, stored) for h, stored in listed.items() if h in new and h not in found)
        # Big fragments uploaded in parts (services.uploads) went to objs/OWNER/: their rows say so.
        found.update((h, Stored(size)) for h, size in blobs.completed_uploads(
            ctx.session, owner, pusher, new - set(found)).items())
        unbatched = sorted(new - set(found))
        if listing is not None:
            unbatched = unbatched[:MAX_UNBATCHED_CHECKS]
        found.update((h, Stored(size)) for h, size in (store.sizes(owner, unbatched) if unbatched else {}).items())
    missing = sorted(h for h in new if h not in found)
    if missing:
        raise BadRequest(f"{len(missing)} fragment(s) are not in storage; upload them first: {_shown(missing)}",
                         missing=missing[:MISSING_DETAIL_LIMIT])
    wrong = sorted(h for h in new if found[h].size != sizes[h])
    if wrong:
        raise BadRequest(f"{len(wrong)} fragment(s) differ in size from the push: "
                         + ", ".join(f"{h} (stored {found[h].size}, declared {sizes[h]})"
                                     for h in wrong[:MISSING_LIST_LIMIT]))
    # A staged copy of a reusable fragment (`--reupload`) is placed too if the stored bytes went missing.
    accepted = _accept_staged(ctx, owner, pusher, {h: reusable[h].batch if h in reusable else None for h in staged})
    rejected = sorted(h for h in new & set(staged) if not accepted[h])
    if rejected:
        raise BadRequest(f"{len(rejected)} uploaded fragment(s) do not match their hash; upload them again: "
                         f"{_shown(rejected)}", mismatched=rejected[:MISSING_DETAIL_LIMIT])
    return reusable, found


def _accept_staged(ctx: Context, owner: str, pusher: str, batches: dict[str, str | None]) -> dict[str, bool]:
    """Each staged fragment placed at its key (`batches`: where its row says it lives)."""
    if not batches:
        return {}
    hashes = sorted(batches)
    # Reading each staged fragment back (S3) is I/O-bound: a few at once, each in bounded chunks.
    with ThreadPoolExecutor(max_workers=STAGED_VERIFY_THREADS) as pool:
        accepted = dict(zip(hashes, pool.map(lambda h: ctx.store.accept_staged(owner, pusher, h, batches[h]), hashes)))
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
