"""Transfers v2: a push plan, and verified, resumable multipart uploads (our SDK's way in; the
quilt 2 protocol is unchanged).

The plan says, per fragment of a push, whether it is stored already (nothing to do), goes up
in one PUT, or in parts. Every URL signs the SHA-256 of what it may carry (the fragment's name
for a single PUT, the part's checksum, sent by the client, for a part), so the store refuses any
other bytes. A multipart upload is a row here: a client that crashed asks again and gets the
same upload, with the parts already received. Completing it checks the parts' sizes and the
composite checksum the store computed from the signed part checksums; the whole fragment's
SHA-256 is checked by the local store, and on S3 by `registry blobs verify --deep`.

A fragment uploaded here is committed by the push itself (PUT /api/package/..., not a dry run),
which checks, as always, that every fragment is stored.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
import time

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import MultipartUpload
from ..storage.base import UploadTarget
from ..storage.sigv4 import checksum_sha256
from . import blobs, permissions, push, upload_urls
from .context import Context

MAX_PARTS = 10_000  # S3's limit
MAX_OPEN_UPLOADS = 1_000  # per pusher: each holds parts in the store until completed, aborted or collected
MAX_FRAGMENT_BYTES = 5 * 1024 ** 4  # S3's largest object
MiB = 1024 ** 2
DIGEST_BYTES = 32


def part_size_for(ctx: Context, size: int) -> int:
    """The configured part size, or more (whole MiB) where 10,000 parts would not hold the fragment."""
    smallest = -(-size // MAX_PARTS)
    return max(ctx.settings.upload_part_bytes, -(-smallest // MiB) * MiB)


def plan(ctx: Context, owner: str, name: str, sizes: dict[str, int]) -> dict:
    """What the client must do for each fragment of the push it is about to make (`sizes`: all
    of them, as in the push itself)."""
    package = _writable(ctx, owner, name)
    too_big = [h for h, size in sizes.items() if size > MAX_FRAGMENT_BYTES]
    if too_big:
        raise BadRequest(f"A fragment may be at most {MAX_FRAGMENT_BYTES} bytes: {too_big[0]}")
    ordered = sorted(sizes)
    reusable = upload_urls.reusable_for_upload(ctx, owner, package, ordered)
    store, pusher = ctx.store, ctx.actor.name
    # Uploaded in parts before (a push that failed after): the push finds them where they are.
    big = [h for h, size in sizes.items() if size > ctx.settings.multipart_threshold_bytes and h not in reusable]
    uploaded = {h for h, size in blobs.completed_uploads(ctx.session, owner, pusher, big).items() if size == sizes[h]}
    batch = store.upload_batch(owner, ordered) if pusher == owner else None
    expires_at = _expires_at(ctx)
    threshold = ctx.settings.multipart_threshold_bytes
    fragments = {}
    for h in ordered:
        size = sizes[h]
        if h in reusable or h in uploaded:
            fragments[h] = {"action": "stored"}
        elif size > threshold:
            part_size = part_size_for(ctx, size)
            fragments[h] = {"action": "multipart", "part_size": part_size, "parts": -(-size // part_size)}
        else:
            target = UploadTarget(owner, h, batch=batch) if pusher == owner else UploadTarget(owner, h, pusher)
            signed = store.single_upload(target, checksum_sha256(h))
            fragments[h] = {"action": "single", "url": signed.url, "headers": signed.headers, "expires_at": expires_at}
    return {"fragments": fragments, "multipart_threshold": threshold}


def start_multipart(ctx: Context, owner: str, name: str, hash_: str, size: int, checksums: list[str]) -> dict:
    """The multipart upload of one fragment by the caller: a new one, or the one it started
    before with the same parts (then the answer says which parts arrived)."""
    package = _writable(ctx, owner, name)
    if hash_ in upload_urls.reusable_for_upload(ctx, owner, package, [hash_]):
        return {"stored": True}
    part_size = part_size_for(ctx, size)
    count = -(-size // part_size)
    if size <= 0 or len(checksums) != count:
        raise BadRequest(f"A fragment of {size} bytes goes up in {count} part(s) of {part_size} bytes: "
                         f"send one checksum per part, not {len(checksums)}")
    digests = b"".join(_digest(checksum, number) for number, checksum in enumerate(checksums, 1))
    pusher = ctx.actor.name
    upload = _find(ctx, owner, hash_, pusher)
    same = upload is not None and (upload.checksums, upload.part_size, upload.size) == (digests, part_size, size)
    if same and upload.completed_at is not None:
        return _described(ctx, upload, {n: _part_bytes(upload, n) for n in range(1, count + 1)})
    if same:
        done = ctx.store.uploaded_parts(_target(upload), upload.upload_id)
        if done is not None:
            return _described(ctx, upload, done)
    if upload is not None:  # other parts (another part size), or gone from the store
        ctx.store.abort_multipart(_target(upload).key, upload.upload_id)
        ctx.session.delete(upload)
        ctx.session.flush()
    open_uploads = ctx.session.scalar(select(func.count()).select_from(MultipartUpload).where(
        MultipartUpload.pusher == pusher, MultipartUpload.completed_at.is_(None)))
    if open_uploads >= MAX_OPEN_UPLOADS:
        raise Conflict(f"You have {open_uploads} multipart uploads open, the most there may be: "
                       "complete or abort some (DELETE /api/v2/multipart/UPLOAD) first")
    upload = MultipartUpload(token=secrets.token_hex(16), owner=owner, hash=hash_, pusher=pusher,
                             staged=pusher != owner, size=size, part_size=part_size, checksums=digests,
                             created_at=utcnow())
    upload.upload_id = ctx.store.start_multipart(_target(upload))
    ctx.session.add(upload)
    try:
        ctx.session.flush()
    except IntegrityError:
        # The same pusher started the same fragment at the same moment: the unit of work runs
        # this request again, and it then resumes that upload.
        ctx.store.abort_multipart(_target(upload).key, upload.upload_id)
        raise
    return _described(ctx, upload, {})


def part_urls(ctx: Context, token: str, numbers: list[int]) -> dict:
    """Fresh URLs for these parts (an earlier batch expired, or the client asks for the next)."""
    upload = _own(ctx, token)
    count = _part_count(upload)
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad:
        raise BadRequest(f"This upload has parts 1 to {count}, not {bad[0]}")
    if len(numbers) > ctx.settings.part_urls_per_request:
        raise BadRequest(f"At most {ctx.settings.part_urls_per_request} part URLs per request")
    return {"urls": _urls(ctx, upload, numbers)}


def status(ctx: Context, token: str) -> dict:
    upload = _own(ctx, token)
    done = ctx.store.uploaded_parts(_target(upload), upload.upload_id) if upload.completed_at is None else {}
    if done is None:
        raise Conflict("The upload is gone from blob storage (aborted or collected); start it again")
    return _described(ctx, upload, done, with_urls=False)


def complete(ctx: Context, token: str) -> dict:
    """Join the parts into the fragment, once every part arrived with its size."""
    upload = _own(ctx, token, for_update=True)
    if upload.completed_at is not None:
        return {"completed": True}
    target = _target(upload)
    done = ctx.store.uploaded_parts(target, upload.upload_id)
    if done is None:  # the row goes when the client starts again (this request's writes are rolled back)
        raise Conflict("The upload is gone from blob storage (aborted or collected); start it again")
    count = _part_count(upload)
    sizes = {n: _part_bytes(upload, n) for n in range(1, count + 1)}
    missing = [n for n in sizes if n not in done]
    if missing:
        raise Conflict(f"{len(missing)} part(s) have not arrived: {missing[:20]}", missing=missing[:1000])
    wrong = [n for n in sizes if done[n] != sizes[n]]
    if wrong:
        raise Conflict(f"Part {wrong[0]} holds {done[wrong[0]]} bytes, not {sizes[wrong[0]]}; upload it again",
                       wrong_size=wrong[:1000])
    if not ctx.store.complete_multipart(target, upload.upload_id, _checksums(upload)):
        ctx.store.abort_multipart(target.key, upload.upload_id)  # the next start replaces the row
        raise BadRequest("The joined parts are not the fragment they were uploaded for; upload it again")
    upload.completed_at = utcnow()
    return {"completed": True}


def abort(ctx: Context, token: str) -> None:
    upload = _own(ctx, token, for_update=True)
    if upload.completed_at is None:
        ctx.store.abort_multipart(_target(upload).key, upload.upload_id)
    ctx.session.delete(upload)


S3_SOURCE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^?#]{1,1024})(?:\?versionId=([^&#]{1,1024}))?\Z")


def import_object(ctx: Context, owner: str, name: str, source: str) -> dict:
    """Copy an object of an allowed bucket into the owner's fragments (`s3://bucket/key`, with
    `?versionId=` for one version), so a package can name data already in S3 without anyone
    downloading it. Answers its SHA-256 and size; a push then names it like any stored fragment."""
    _writable(ctx, owner, name)
    if ctx.actor.name != owner:
        raise Forbidden("Only the package owner can import s3:// objects into it")
    match = S3_SOURCE.match(source)
    if match is None:
        raise BadRequest("An import source is s3://BUCKET/KEY, optionally with ?versionId=VERSION")
    bucket, key, version_id = match.groups()
    allowed = {b.strip() for b in ctx.settings.s3_import_buckets.split(",") if b.strip()}
    if bucket not in allowed or bucket == ctx.settings.s3_bucket:
        raise Forbidden(f"The registry does not import from bucket {bucket} "
                        "(its administrator lists the allowed ones in REGISTRY_S3_IMPORT_BUCKETS)")
    hash_, size = ctx.store.import_object(owner, bucket, key, version_id)
    # A row, touched now: the push that names it finds it stored, and gc spares it meanwhile.
    blobs.add_blobs(ctx.session, owner, {hash_: blobs.Stored(size)})
    blobs.touch(ctx.session, owner, [hash_])
    return {"hash": hash_, "size": size}


def collect(ctx: Context, cutoff: dt.datetime, dry_run: bool) -> int:
    """Garbage collection: abort the uploads started before `cutoff` and never completed (rows
    and the store's own list, which also holds uploads whose row was never written), drop the
    rows of completed ones. Returns how many uploads were aborted."""
    stale = ctx.session.scalars(select(MultipartUpload).where(MultipartUpload.created_at < cutoff)).all()
    open_ids = {u.upload_id for u in ctx.session.scalars(select(MultipartUpload).where(
        MultipartUpload.completed_at.is_(None), MultipartUpload.created_at >= cutoff))}
    aborted = 0
    for upload in stale:
        if upload.completed_at is None:
            aborted += 1
            if not dry_run:
                ctx.store.abort_multipart(_target(upload).key, upload.upload_id)
    if not dry_run and stale:
        ctx.session.execute(delete(MultipartUpload).where(MultipartUpload.id.in_([u.id for u in stale])))
    known = {u.upload_id for u in stale} | open_ids
    aware_cutoff = cutoff.replace(tzinfo=dt.timezone.utc)
    for pending in ctx.store.pending_multiparts():
        if pending.upload_id not in known and pending.started < aware_cutoff:
            aborted += 1
            if not dry_run:
                ctx.store.abort_multipart(pending.key, pending.upload_id)
    return aborted


# Helpers

def _writable(ctx: Context, owner: str, name: str):
    """The package the caller may push to (None: its first push creates it), as a push checks it."""
    return push.writable_package(ctx, owner, name, push.PushRequest(contents={}, sizes={}))


def _find(ctx: Context, owner: str, hash_: str, pusher: str) -> MultipartUpload | None:
    return ctx.session.scalar(select(MultipartUpload).where(
        MultipartUpload.owner == owner, MultipartUpload.hash == hash_, MultipartUpload.pusher == pusher))


def _own(ctx: Context, token: str, *, for_update: bool = False) -> MultipartUpload:
    """The caller's upload: anyone else's, like a missing one, is a 404."""
    permissions.require_user(ctx.actor)
    query = select(MultipartUpload).where(MultipartUpload.token == token, MultipartUpload.pusher == ctx.actor.name)
    upload = ctx.session.scalar(query.with_for_update() if for_update else query)
    if upload is None:
        raise NotFound("No such upload (completed long ago, aborted, or not yours)")
    return upload


def _target(upload: MultipartUpload) -> UploadTarget:
    return UploadTarget(upload.owner, upload.hash, upload.pusher if upload.staged else None)


def _digest(checksum: str, number: int) -> bytes:
    try:
        digest = base64.b64decode(checksum, validate=True) if isinstance(checksum, str) else b""
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != DIGEST_BYTES:
        raise BadRequest(f"The checksum of part {number} is not a base64 SHA-256")
    return digest


def _checksums(upload: MultipartUpload) -> list[str]:
    raw = upload.checksums
    return [base64.b64encode(raw[i:i + DIGEST_BYTES]).decode() for i in range(0, len(raw), DIGEST_BYTES)]


def _part_count(upload: MultipartUpload) -> int:
    return len(upload.checksums) // DIGEST_BYTES


def _part_bytes(upload: MultipartUpload, number: int) -> int:
    return min(upload.part_size, upload.size - (number - 1) * upload.part_size)


def _expires_at(ctx: Context) -> int:
    # Signed now (whole seconds, as SigV4 dates are), valid for the configured lifetime.
    return int(time.time()) + ctx.settings.url_expiry_seconds


def _urls(ctx: Context, upload: MultipartUpload, numbers: list[int]) -> list[dict]:
    checksums, target, expires_at = _checksums(upload), _target(upload), _expires_at(ctx)
    urls = []
    for number in numbers:
        signed = ctx.store.part_upload(target, upload.upload_id, number, checksums[number - 1])
        urls.append({"number": number, "url": signed.url, "headers": signed.headers, "expires_at": expires_at})
    return urls


def _described(ctx: Context, upload: MultipartUpload, done: dict[int, int], *, with_urls: bool = True) -> dict:
    count = _part_count(upload)
    answer = {"upload": upload.token, "hash": upload.hash, "size": upload.size, "part_size": upload.part_size,
              "parts": count, "done": sorted(n for n, size in done.items() if size == _part_bytes(upload, n)),
              "completed": upload.completed_at is not None}
    if with_urls:
        done_parts = set(answer["done"])
        waiting = [n for n in range(1, count + 1) if n not in done_parts]
        answer["urls"] = _urls(ctx, upload, waiting[:ctx.settings.part_urls_per_request])
    return answer
