"""`/api/audit/...` and `/api/admin/...` (protocol.md 9.13): admins only, not gated by
`enable_user_endpoints`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..schemas.audit import AuditQuerySchema
from ..services import audit, permissions
from .context import service_context

bp = Blueprint("audit", __name__, url_prefix="/api")


@bp.before_request
def _admins_only():
    # Before the query string is validated: 401, then 403, then 400 (protocol.md 14.10).
    if request.method != "OPTIONS":  # CORS preflights carry no token
        permissions.require_admin(service_context().actor)


@bp.get("/audit/<owner>/<name>/")
def package_audit(owner: str, name: str):
    audit_filter = AuditQuerySchema().load(request.args)
    return jsonify({"events": audit.package_events(service_context(), owner, name, audit_filter)})


@bp.get("/audit/<user>/")
def user_audit(user: str):
    audit_filter = AuditQuerySchema().load(request.args)
    return jsonify({"events": audit.user_events(service_context(), user, audit_filter)})


# strict_slashes is off app-wide, so the client's slash-less form is served directly, not redirected.
@bp.get("/admin/package_list/<owner>/")
def package_list(owner: str):
    return jsonify({"packages": audit.owner_packages(service_context(), owner)})


@bp.get("/admin/package_summary")
def package_summary():
    return jsonify({"packages": audit.package_summary(service_context())})
