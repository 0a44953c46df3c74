from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import BadRequest
from ..schemas import responses
from ..schemas.users import RefreshForm
from ..services import throttle
from ..services.permissions import require_user
from ..services.throttle import throttle_for
from ..state import state
from .context import db_session, service_context
from .contract import NO_TOKEN, SIGNED_IN, dumped, operation

bp = Blueprint("auth", __name__, url_prefix="/api")


@bp.post("/token")
@operation("Auth", "A login code or refresh token for a fresh token pair",
           responses.TokenPair, body=RefreshForm, body_type="application/x-www-form-urlencoded", auth=NO_TOKEN,
           errors=(400, 401, 429))
def token():
    """A login code or refresh token (form field `refresh_token`) for a fresh token pair.
    Failed exchanges are throttled per client address (a code names no account until it matches)."""
    if "refresh_token" in request.args:
        raise BadRequest("Send refresh_token in the request body, never in the URL (URLs are logged).")
    secret = request.form.get("refresh_token")
    if not secret:
        raise BadRequest("Missing refresh_token")
    attempt = throttle_for(current_app).attempt(throttle.TOKEN, address=request.remote_addr)
    pair = state().tokens.exchange(db_session(), secret, engine=state().engine)
    attempt.succeeded(within=db_session())
    return dumped(responses.TokenPair, pair)


@bp.post("/logout")
@operation("Auth", "Revoke the session behind the presented token", responses.Empty, auth=SIGNED_IN)
def logout():
    """Revoke the session (refresh token) behind the presented access token."""
    require_user(service_context().actor)
    token = request.headers["Authorization"].split()[-1]
    state().tokens.revoke_session(db_session(), token)
    return jsonify({})
