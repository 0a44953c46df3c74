"""The account page: change the password, see and end the client tokens and browsers that
are signed in as you."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from ..errors import BadRequest
from ..request_scope import db_session
from ..services import accounts
from .csrf import check_csrf
from .login import sign_in
from .viewer import viewer_context

bp = Blueprint("account", __name__)
# Ids beyond a BIGINT are no row (a 404 from routing), not an overflow in the database driver.
MAX_ROW_ID = 2**63 - 1


def _page(error: str | None = None, status: int = 200):
    ctx = viewer_context()
    page = render_template("account.html", error=error, tokens=accounts.list_tokens(ctx),
                           sessions=accounts.list_web_sessions(ctx, current_user.web_session_id))
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/account")
@login_required
def account():
    return _page()


@bp.post("/account/password")
@login_required
def change_password():
    check_csrf()
    form = request.form
    try:
        user = accounts.change_password(viewer_context(), form.get("current", ""), form.get("password", ""),
                                        form.get("confirm", ""))
    except BadRequest as exc:
        db_session().rollback()  # the page below must not see the failed attempt
        return _page(exc.message, 400)
    sign_in(user)  # every session ended with the old password; this browser gets a new one
    flash("Your password was changed. Every other browser and client was signed out.")
    return redirect(url_for("account.account"))


@bp.post(f"/account/tokens/<int(max={MAX_ROW_ID}):token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    check_csrf()
    accounts.revoke_token(viewer_context(), token_id)
    flash("The client was signed out.")
    return redirect(url_for("account.account"))


@bp.post(f"/account/sessions/<int(max={MAX_ROW_ID}):session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    check_csrf()
    accounts.revoke_web_session(viewer_context(), session_id)
    if session_id == current_user.web_session_id:
        logout_user()
        return redirect(url_for("pages.home"))
    flash("The browser was signed out.")
    return redirect(url_for("account.account"))
