"""The page behind the links that `/api/users/create` and `/api/users/reset_password` answer:
the user chooses a password, then signs in on /login as usual."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ..errors import BadRequest
from ..request_scope import db_session
from ..services import users
from ..state import state
from .csrf import check_csrf

bp = Blueprint("password", __name__)


@bp.route("/password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    secret_key = state().secret_key
    error, status = None, 200
    if request.method == "POST":
        check_csrf()
        try:
            users.set_password_with_token(db_session(), secret_key, token, request.form.get("password", ""),
                                          request.form.get("confirm", ""))
            return redirect(url_for("login.login"))
        except BadRequest as exc:
            db_session().rollback()  # the page below must not see the failed attempt
            error, status = exc.message, 400
    # A bad, expired or used link raises NotFound: the 404 page.
    user = users.user_for_password_token(db_session(), secret_key, token)
    response = current_app.make_response((render_template("password.html", name=user.name, error=error), status))
    # The link is a secret: keep it out of Referer headers and caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
