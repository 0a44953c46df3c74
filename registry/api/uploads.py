"""Transfers v2 for our SDK (services.uploads): the push plan and multipart uploads. Versioned
under /api/v2; the quilt 2 protocol is unchanged."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify

from ..errors import NotFound
from ..schemas.uploads import ImportSchema, PlanSchema, StartMultipartSchema, part_numbers
from ..services import permissions, uploads
from .context import json_body, service_context

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
def push_plan(owner: str, name: str):
    ctx = _authenticated()
    return jsonify(uploads.plan(ctx, owner, name, PlanSchema().load(json_body() or {})["fragments"]))


@bp.post("/multipart/<owner>/<name>")
def start_multipart(owner: str, name: str):
    ctx = _authenticated()
    body = StartMultipartSchema().load(json_body() or {})
    return jsonify(uploads.start_multipart(ctx, owner, name, body["hash"], body["size"], body["checksums"]))


@bp.get("/multipart/<token>")
def multipart_status(token: str):
    return jsonify(uploads.status(_authenticated(), _token(token)))


@bp.post("/multipart/<token>/urls")
def part_urls(token: str):
    ctx = _authenticated()
    return jsonify(uploads.part_urls(ctx, _token(token), part_numbers(json_body() or {})))


@bp.post("/multipart/<token>/complete")
def complete_multipart(token: str):
    return jsonify(uploads.complete(_authenticated(), _token(token)))


@bp.delete("/multipart/<token>")
def abort_multipart(token: str):
    uploads.abort(_authenticated(), _token(token))
    return jsonify({})


@bp.post("/imports/<owner>/<name>")
def import_object(owner: str, name: str):
    ctx = _authenticated()
    return jsonify(uploads.import_object(ctx, owner, name, ImportSchema().load(json_body() or {})["source"]))
