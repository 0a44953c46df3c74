"""The local store's signed URLs (/blobs/OWNER/HASH): exactly what the quilt client needs of
S3 (protocol.md 8.2-8.3), with the SHA-256 of every upload checked before it is kept."""

from __future__ import annotations

from flask import Blueprint, Response, request, send_file

from ..errors import BadRequest, Forbidden, NotFound
from ..state import state
from ..storage import LocalBlobStore
from ..storage.base import OWNER_RE
from ..tree import is_hash

bp = Blueprint("blobs", __name__)


def _authorised_path(owner: str, hash_: str, method: str):
    store = state().store
    if not isinstance(store, LocalBlobStore):
        raise NotFound("This registry stores blobs in S3")
    if not OWNER_RE.match(owner) or not is_hash(hash_):
        raise NotFound("No such blob")
    if request.args.get("m") != method or not store.verify(method, owner, hash_, request.args.get("e"),
                                                           request.args.get("s")):
        raise Forbidden("The URL signature is invalid or has expired")
    return store, store.path(owner, hash_)


@bp.route("/blobs/<owner>/<hash_>", methods=["GET", "HEAD"])
def download(owner: str, hash_: str):
    _, path = _authorised_path(owner, hash_, request.method)
    if not path.is_file():
        raise NotFound("No such blob")
    # send_file answers `Range: bytes=N-` with 206 and Content-Range, as S3 does.
    response = send_file(path, mimetype="application/octet-stream", conditional=True, etag=False,
                         max_age=0)
    response.headers["Accept-Ranges"] = "bytes"
    return response


@bp.put("/blobs/<owner>/<hash_>")
def upload(owner: str, hash_: str):
    store, _ = _authorised_path(owner, hash_, "PUT")
    if request.headers.get("Content-Encoding", "identity") not in ("", "identity"):
        raise BadRequest("Upload the raw bytes without Content-Encoding")
    store.write(owner, hash_, request.stream)
    return Response(status=200)
