from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas import responses
from ..schemas.packages import VersionSchema
from ..services import permissions, versions
from .context import json_body, service_context
from .contract import SIGNED_IN, dumped, operation
from .json_output import streamed_list

bp = Blueprint("versions", __name__, url_prefix="/api")


@bp.get("/version/<owner>/<name>/")
@operation("Versions", "The versions of a package", responses.VersionList)
def list_versions(owner: str, name: str):
    return streamed_list("versions", versions.version_entries(service_context(), owner, name))


@bp.get("/version/<owner>/<name>/<version>")
@operation("Versions", "The instance a version names", responses.Instance)
def get_version(owner: str, name: str, version: str):
    return dumped(responses.Instance, versions.get_version(service_context(), owner, name, version))


@bp.put("/version/<owner>/<name>/<version>")
@operation("Versions", "Name an instance with a version (a version never moves)",
           responses.Empty, body=VersionSchema, auth=SIGNED_IN, errors=(403, 409))
def add_version(owner: str, name: str, version: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)
    body = VersionSchema().load(json_body() or {})
    versions.add_version(ctx, owner, name, version, body["hash"])
    return jsonify({})
