"""`/api/users/*` (protocol.md 9.13): admins only, and only while `enable_user_endpoints` is on."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..schemas.users import CreateUserSchema, UsernameSchema
from ..services import admin
from .context import json_body, service_context

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.before_request
def _admins_only():
    # Runs after authentication and before any body is read: 401, then 403, then 400 (protocol.md 14.10).
    if request.method != "OPTIONS":  # CORS preflights carry no token
        admin.require_user_endpoints(service_context())


def _username() -> str:
    return UsernameSchema().load(json_body() or {})["username"]


def _secret_key() -> str:
    # Password links are signed with the server secret, like sessions and access tokens.
    return current_app.config["SECRET_KEY"]


@bp.get("/list")
def list_users():
    return jsonify({"results": admin.list_users(service_context())})


@bp.get("/list_detailed")
def list_users_detailed():
    return jsonify({"users": admin.list_users_detailed(service_context())})


@bp.post("/create")
def create():
    body = CreateUserSchema().load(json_body() or {})
    url = admin.create_user(service_context(), body["username"], body["email"], secret_key=_secret_key())
    return jsonify({"password_url": url})


@bp.post("/reset_password")
def reset_password():
    url = admin.reset_password(service_context(), _username(), secret_key=_secret_key())
    return jsonify({"password_url": url})


def _username_action(path: str, action) -> None:
    """`POST /api/users/<path> {"username"}` -> `action(ctx, username)` -> `{}`."""
    def view():
        action(service_context(), _username())
        return jsonify({})

    bp.add_url_rule(f"/{path}", endpoint=path, view_func=view, methods=["POST"])


for _path, _action in (("disable", admin.disable_user), ("enable", admin.enable_user),
                       ("grant_admin", admin.grant_admin), ("revoke_admin", admin.revoke_admin),
                       ("delete", admin.delete_user)):
    _username_action(_path, _action)
