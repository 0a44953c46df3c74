from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import BadRequest
from ..services.permissions import require_user
from ..state import state
from .context import db_session, service_context

bp = Blueprint("auth", __name__, url_prefix="/api")


@bp.post("/token")
def token():
    """A login code or refresh token (form field `refresh_token`) for a fresh token pair."""
    secret = request.form.get("refresh_token") or request.args.get("refresh_token")
    if not secret:
        raise BadRequest("Missing refresh_token")
    pair = state().tokens.exchange(db_session(), secret)
    db_session().commit()
    return jsonify(pair.as_json())


@bp.post("/logout")
def logout():
    """Revoke the session (refresh token) behind the presented access token."""
    require_user(service_context().actor)
    token = request.headers["Authorization"].split()[-1]
    state().tokens.revoke_session(db_session(), token)
    db_session().commit()
    return jsonify({})
