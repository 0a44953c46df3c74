"""`/api/audit/...` and `/api/admin/...` (protocol.md 9.13): admins only, not gated by
`enable_user_endpoints`."""

from __future__ import annotations

from flask import Blueprint, request

from ..schemas import responses
from ..schemas.audit import AuditQuerySchema
from ..services import audit, permissions
from .context import service_context
from .contract import ADMIN, dumped, operation

bp = Blueprint("audit", __name__, url_prefix="/api")


@bp.before_request
def _admins_only():
    # Before the query string is validated: 401, then 403, then 400 (protocol.md 14.10).
    if request.method != "OPTIONS":  # CORS preflights carry no token
        permissions.require_admin(service_context().actor)


@bp.get("/audit/<owner>/<name>/")
@operation("Admin", "The events of a package name, newest last (admins)",
           responses.AuditEvents, query=AuditQuerySchema, auth=ADMIN)
def package_audit(owner: str, name: str):
    audit_filter = AuditQuerySchema().load(request.args)
    return dumped(responses.AuditEvents, {"events": audit.package_events(service_context(), owner, name, audit_filter)})


@bp.get("/audit/<user>/")
@operation("Admin", "The events of a user, newest last (admins)",
           responses.AuditEvents, query=AuditQuerySchema, auth=ADMIN)
def user_audit(user: str):
    audit_filter = AuditQuerySchema().load(request.args)
    return dumped(responses.AuditEvents, {"events": audit.user_events(service_context(), user, audit_filter)})


# strict_slashes is off app-wide, so the client's slash-less form is served directly, not redirected.
@bp.get("/admin/package_list/<owner>/")
@operation("Admin", "Every package of an owner, readable or not (admins)", responses.OwnerPackages, auth=ADMIN)
def package_list(owner: str):
    return dumped(responses.OwnerPackages, {"packages": audit.owner_packages(service_context(), owner)})


@bp.get("/admin/package_summary")
@operation("Admin", "Event counts per package (admins)", responses.AdminPackageSummary, auth=ADMIN)
def package_summary():
    return dumped(responses.AdminPackageSummary, {"packages": audit.package_summary(service_context())})
