from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas.packages import TagSchema
from ..services import permissions, tags
from .context import json_body, service_context

bp = Blueprint("tags", __name__, url_prefix="/api")


@bp.get("/tag/<owner>/<name>/")
def list_tags(owner: str, name: str):
    return jsonify({"tags": tags.list_tags(service_context(), owner, name)})


@bp.get("/tag/<owner>/<name>/<tag>")
def get_tag(owner: str, name: str, tag: str):
    return jsonify(tags.get_tag(service_context(), owner, name, tag))


@bp.put("/tag/<owner>/<name>/<tag>")
def set_tag(owner: str, name: str, tag: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)  # authenticate before validating (protocol.md 14.10)
    body = TagSchema().load(json_body() or {})
    tags.set_tag(ctx, owner, name, tag, body["hash"], body.get("expected_hash", tags.UNSET))
    return jsonify({})


@bp.delete("/tag/<owner>/<name>/<tag>")
def delete_tag(owner: str, name: str, tag: str):
    tags.delete_tag(service_context(), owner, name, tag)
    return jsonify({})
