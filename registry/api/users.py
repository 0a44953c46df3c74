"""`/api/users/*` (protocol.md 9.13): admins only, and only while `enable_user_endpoints` is on."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..schemas import responses
from ..schemas.users import CreateUserSchema, UsernameSchema
from ..services import admin
from ..state import state
from .context import json_body, service_context
from .contract import ADMIN, dumped, operation

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
    return state().secret_key


@bp.get("/list")
@operation("Admin", "Every user (admins, when user endpoints are on)", responses.UserList, auth=ADMIN)
def list_users():
    return dumped(responses.UserList, {"results": admin.list_users(service_context())})


@bp.get("/list_detailed")
@operation("Admin", "Every user with activity counts (admins)", responses.UserListDetailed, auth=ADMIN)
def list_users_detailed():
    return dumped(responses.UserListDetailed, {"users": admin.list_users_detailed(service_context())})


@bp.post("/create")
@operation("Admin", "Create a user; the answer is a link to set the password",
           responses.PasswordLink, body=CreateUserSchema, auth=ADMIN, errors=(409,))
def create():
    body = CreateUserSchema().load(json_body() or {})
    url = admin.create_user(service_context(), body["username"], body["email"], secret_key=_secret_key())
    return jsonify({"password_url": url})


@bp.post("/reset_password")
@operation("Admin", "A fresh link to set a user's password", responses.PasswordLink, body=UsernameSchema, auth=ADMIN)
def reset_password():
    url = admin.reset_password(service_context(), _username(), secret_key=_secret_key())
    return jsonify({"password_url": url})


def _username_action(path: str, action) -> None:
    """`POST /api/users/<path> {"username"}` -> `action(ctx, username)` -> `{}`."""
    @operation("Admin", f"{path.replace('_', ' ').capitalize()} a user (admins)", responses.Empty,
               body=UsernameSchema, auth=ADMIN)
    def view():
        action(service_context(), _username())
        return jsonify({})

    bp.add_url_rule(f"/{path}", endpoint=path, view_func=view, methods=["POST"])


for _path, _action in (("disable", admin.disable_user), ("enable", admin.enable_user),
                       ("grant_admin", admin.grant_admin), ("revoke_admin", admin.revoke_admin),
                       ("delete", admin.delete_user)):
    _username_action(_path, _action)
