from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas import responses
from ..services import access
from .context import service_context
from .contract import SIGNED_IN, operation
from .json_output import streamed_list

bp = Blueprint("access", __name__, url_prefix="/api")


@bp.get("/access/<owner>/<name>/")
@operation("Access", "Who may read a package (any signed-in reader may list it)", responses.AccessList, auth=SIGNED_IN, errors=(403,))
def list_access(owner: str, name: str):
    return streamed_list("users", access.access_entries(service_context(), owner, name))  # as tags


@bp.get("/access/<owner>/<name>/<principal>")
@operation("Access", "Whether a principal may read a package", responses.Empty, auth=SIGNED_IN, errors=(403,))
def check_access(owner: str, name: str, principal: str):
    access.check_access(service_context(), owner, name, principal)
    return jsonify({})


@bp.put("/access/<owner>/<name>/<principal>")
@operation("Access", "Let a user, `team` or `public` read a package",
           responses.Empty, auth=SIGNED_IN, errors=(400, 403))
def grant_access(owner: str, name: str, principal: str):
    access.grant_access(service_context(), owner, name, principal)
    return jsonify({})


@bp.delete("/access/<owner>/<name>/<principal>")
@operation("Access", "Take read access away", responses.Empty, auth=SIGNED_IN, errors=(400, 403))
def revoke_access(owner: str, name: str, principal: str):
    access.revoke_access(service_context(), owner, name, principal)
    return jsonify({})
