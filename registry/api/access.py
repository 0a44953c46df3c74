from __future__ import annotations

from flask import Blueprint, jsonify

from ..services import access
from .context import service_context

bp = Blueprint("access", __name__, url_prefix="/api")


@bp.get("/access/<owner>/<name>/")
def list_access(owner: str, name: str):
    return jsonify({"users": access.list_access(service_context(), owner, name)})


@bp.get("/access/<owner>/<name>/<principal>")
def check_access(owner: str, name: str, principal: str):
    access.check_access(service_context(), owner, name, principal)
    return jsonify({})


@bp.put("/access/<owner>/<name>/<principal>")
def grant_access(owner: str, name: str, principal: str):
    access.grant_access(service_context(), owner, name, principal)
    return jsonify({})


@bp.delete("/access/<owner>/<name>/<principal>")
def revoke_access(owner: str, name: str, principal: str):
    access.revoke_access(service_context(), owner, name, principal)
    return jsonify({})
