"""Transfers v2 for our SDK (services.uploads): the push plan and multipart uploads. Versioned
under /api/v2; the quilt 2 protocol is unchanged."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify

from .. import collector
from ..errors import NotFound
from ..schemas import responses
from ..schemas.uploads import ImportSchema, PartNumbersSchema, PlanSchema, StartMultipartSchema, part_numbers
from ..services import permissions, uploads
from .context import json_body, service_context
from .contract import SIGNED_IN, dumped, operation

bp = Blueprint("uploads", __name__, url_prefix="/api/v2")
TOKEN = re.compile(r"[0-9a-f]{32}\Z")


def _authenticated():
    ctx = service_context()
    permissions.require_user(ctx.actor)  # authenticate before validating (protocol.md 14.10)
    return ctx


def _token(token: str) -> str:
    if not TOKEN.match(token):
        raise NotFound("No such upload (completed long ago, aborted, or not yours)")
    return token


@bp.post("/push-plan/<owner>/<name>")
@operation("Transfers", "What to do with each fragment of a push: nothing, one PUT, or a multipart upload",
           responses.PushPlan, body=PlanSchema, auth=SIGNED_IN, errors=(403,))
@collector.relaxed_during
def push_plan(owner: str, name: str):
    ctx = _authenticated()
    return jsonify(uploads.plan(ctx, owner, name, PlanSchema().load(json_body() or {})["fragments"]))


@bp.post("/multipart/<owner>/<name>")
@operation("Transfers", "Start (or resume) the multipart upload of one fragment",
           responses.MultipartUpload, body=StartMultipartSchema, auth=SIGNED_IN, errors=(403, 409))
def start_multipart(owner: str, name: str):
    ctx = _authenticated()
    body = StartMultipartSchema().load(json_body() or {})
    return dumped(responses.MultipartUpload,
                  uploads.start_multipart(ctx, owner, name, body["hash"], body["size"], body["checksums"]))


@bp.get("/multipart/<token>")
@operation("Transfers", "Which parts of an upload S3 holds, and URLs for the next missing ones",
           responses.MultipartUpload, auth=SIGNED_IN)
def multipart_status(token: str):
    return dumped(responses.MultipartUpload, uploads.status(_authenticated(), _token(token)))


@bp.post("/multipart/<token>/urls")
@operation("Transfers", "Fresh URLs for the named parts", responses.PartUrls, body=PartNumbersSchema, auth=SIGNED_IN)
def part_urls(token: str):
    ctx = _authenticated()
    return dumped(responses.PartUrls, uploads.part_urls(ctx, _token(token), part_numbers(json_body() or {})))


@bp.post("/multipart/<token>/complete")
@operation("Transfers", "Assemble the parts, after checking every part's checksum",
           responses.Completed, auth=SIGNED_IN, errors=(400, 409))
def complete_multipart(token: str):
    return dumped(responses.Completed, uploads.complete(_authenticated(), _token(token)))


@bp.delete("/multipart/<token>")
@operation("Transfers", "Abort an upload and drop its parts", responses.Empty, auth=SIGNED_IN)
def abort_multipart(token: str):
    uploads.abort(_authenticated(), _token(token))
    return jsonify({})


@bp.post("/imports/<owner>/<name>")
@operation("Transfers", "Copy an object already in S3 into the store, server-side",
           responses.Imported, body=ImportSchema, auth=SIGNED_IN, errors=(403,))
def import_object(owner: str, name: str):
    ctx = _authenticated()
    return dumped(responses.Imported,
                  uploads.import_object(ctx, owner, name, ImportSchema().load(json_body() or {})["source"]))
