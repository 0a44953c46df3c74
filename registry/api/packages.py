from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request

from ..schemas.packages import PushSchema
from ..services import packages, permissions
from .context import db_session, json_body, service_context

bp = Blueprint("packages", __name__, url_prefix="/api")


@bp.put("/package/<owner>/<name>/<top_hash>")
def push(owner: str, name: str, top_hash: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)  # authenticate before validating (protocol.md 14.10)
    push_request = PushSchema().load(json_body() or {})
    result = packages.push_instance(ctx, owner, name, top_hash, push_request)
    db_session().commit()
    return jsonify(result)


@bp.get("/package/<owner>/<name>/<top_hash>")
def install(owner: str, name: str, top_hash: str):
    contents, rest = packages.get_instance(
        service_context(), owner, name, top_hash,
        subpath=packages.parse_subpath(request.args.get("subpath", "")),
        meta_only=packages.parse_meta_only(request.args.get("meta_only", "")))
    db_session().commit()
    # The stored tree goes out byte for byte, without being parsed and re-encoded.
    body = b'{"contents":' + contents + b"," + json.dumps(rest, separators=(",", ":")).encode()[1:]
    return Response(body, mimetype="application/json")


@bp.get("/package/<owner>/<name>/")
def instance_hashes(owner: str, name: str):
    return jsonify({"hashes": packages.list_instance_hashes(service_context(), owner, name)})


@bp.get("/package/<owner>/")
def owner_packages(owner: str):
    return jsonify({"packages": packages.list_owner_packages(service_context(), owner)})
