from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas.packages import VersionSchema
from ..services import permissions, versions
from .context import json_body, service_context

bp = Blueprint("versions", __name__, url_prefix="/api")


@bp.get("/version/<owner>/<name>/")
def list_versions(owner: str, name: str):
    return jsonify({"versions": versions.list_versions(service_context(), owner, name)})


@bp.get("/version/<owner>/<name>/<version>")
def get_version(owner: str, name: str, version: str):
    return jsonify(versions.get_version(service_context(), owner, name, version))


@bp.put("/version/<owner>/<name>/<version>")
def add_version(owner: str, name: str, version: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)
    body = VersionSchema().load(json_body() or {})
    versions.add_version(ctx, owner, name, version, body["hash"])
    return jsonify({})
