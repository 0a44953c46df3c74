"""Sign-up: anyone may create an account unless REGISTRY_ALLOW_SIGNUP is false (then 404)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..errors import BadRequest, Conflict
from ..request_scope import db_session
from ..services import accounts, throttle
from ..services.throttle import throttle_for
from .csrf import check_csrf
from .login import sign_in
from .security import safe_next
from .viewer import viewer_context

bp = Blueprint("signup", __name__)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    ctx = viewer_context()
    accounts.require_signup(ctx)
    target = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("pages.home"))
    error, status = None, 200
    if request.method == "POST":
        check_csrf()
        form = request.form
        # Every sign-up counts, per name asked for and per client address.
        throttle_for(current_app).attempt(throttle.SIGNUP, account=form.get("username", "").strip(),
                                          address=request.remote_addr)
        try:
            user = accounts.sign_up(ctx, form.get("username", ""), form.get("password", ""),
                                    form.get("confirm", ""), form.get("email", ""))
        except (BadRequest, Conflict) as exc:
            db_session().rollback()  # the page below must not see the failed attempt
            error, status = exc.message, exc.status
        else:
            sign_in(user)  # the new account and its first session commit together
            flash(f"Welcome, {user.name}. Your account is ready.")
            return redirect(target or url_for("pages.home"))
    return render_template("signup.html", error=error, next=target, form=request.form), status
