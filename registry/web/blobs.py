"""The local store's signed URLs: exactly what the quilt client needs of S3 (protocol.md
8.2-8.3), with the SHA-256 and the size of every upload checked before it is kept.

`/blobs/OWNER/HASH` is a stored fragment (HEAD, GET, PUT); `/blobs/staging/OWNER/PUSHER/HASH`
is where a pusher uploads its own copy of a fragment it may not reuse (HEAD, PUT);
`/blobs/multipart/UPLOAD/N` is part N of a multipart upload (PUT with the
`x-amz-checksum-sha256` header its URL was signed for, as on S3).
"""

from __future__ import annotations

from flask import Blueprint, Response, request, send_file

from ..errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from ..state import state
from ..storage import LocalBlobStore
from ..storage.base import MULTIPART, OWNER_RE, STAGING
from ..storage.local import UPLOAD_ID
from ..tree import is_hash

bp = Blueprint("blobs", __name__)


def _authorised(method: str, hash_: str, *owners: str) -> LocalBlobStore:
    """The store, once the URL is ours: signed for this method, these names and hash, unexpired."""
    store = state().store  # a LocalBlobStore: the blueprint is registered for no other (registry.web)
    if not all(OWNER_RE.match(name) for name in owners) or not is_hash(hash_):
        raise NotFound("No such blob")
    signed_for = owners[0] if len(owners) == 1 else "/".join((STAGING, *owners))
    if request.args.get("m") != method or not store.verify(method, signed_for, hash_, request.args.get("e"),
                                                           request.args.get("s")):
        raise Forbidden("The URL signature is invalid or has expired")
    return store


@bp.route("/blobs/<owner>/<hash_>", methods=["GET", "HEAD"])
def download(owner: str, hash_: str):
    path = _authorised(request.method, hash_, owner).path(owner, hash_)
    if not path.is_file():
        raise NotFound("No such blob")
    try:
        # send_file answers `Range: bytes=N-` with 206 and Content-Range, as S3 does.
        response = send_file(path, mimetype="application/octet-stream", conditional=True, etag=False,
                             max_age=0)
    except FileNotFoundError:  # collected (gc) since the check above
        raise NotFound("No such blob") from None
    response.headers["Accept-Ranges"] = "bytes"
    return response


@bp.put("/blobs/<owner>/<hash_>")
def upload(owner: str, hash_: str):
    store = _authorised("PUT", hash_, owner)
    store.write(owner, hash_, request.stream, _upload_limit())
    return Response(status=200)


@bp.route(f"/blobs/{STAGING}/<owner>/<pusher>/<hash_>", methods=["HEAD"])
def staged(owner: str, pusher: str, hash_: str):
    if not _authorised("HEAD", hash_, owner, pusher).staging_path(owner, pusher, hash_).is_file():
        raise NotFound("No such blob")
    return Response(status=200)


@bp.put(f"/blobs/{STAGING}/<owner>/<pusher>/<hash_>")
def upload_staged(owner: str, pusher: str, hash_: str):
    store = _authorised("PUT", hash_, owner, pusher)
    store.write_staged(owner, pusher, hash_, request.stream, _upload_limit())
    return Response(status=200)


@bp.put(f"/blobs/{MULTIPART}/<upload_id>/<int:number>")
def upload_part(upload_id: str, number: int):
    store: LocalBlobStore = state().store
    if not UPLOAD_ID.match(upload_id):
        raise NotFound("No such multipart upload")
    checksum = request.headers.get("x-amz-checksum-sha256", "")
    if request.args.get("m") != "PUT" or not store.verify("PUT", f"{MULTIPART}/{upload_id}",
                                                          store.part_name(number, checksum),
                                                          request.args.get("e"), request.args.get("s")):
        raise Forbidden("The URL signature is invalid or has expired (or the checksum header is not the signed one)")
    store.write_part(upload_id, number, checksum, request.stream, _upload_limit())
    return Response(status=200)


def _upload_limit() -> int:
    """The most bytes the store takes (it counts them again while streaming: a chunked body has
    no Content-Length)."""
    if request.headers.get("Content-Encoding", "identity") not in ("", "identity"):
        raise BadRequest("Upload the raw bytes without Content-Encoding")
    limit = state().settings.max_fragment_bytes
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"A fragment may be at most {limit} bytes")
    return limit
