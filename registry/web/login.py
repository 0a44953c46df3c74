"""Sign in, the one-time code page `quilt login` sends people to, sign out.

The session cookie holds the secret of a web session (services/web_sessions.py), not the user
id, so a session ends when its row goes: on sign-out, when revoked from the account page, and
when the password changes or the account is disabled.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from ..request_scope import base_url, db_session
from ..services import events, throttle, users, web_sessions
from ..services.throttle import throttle_for
from ..state import state
from ..unit_of_work import DATABASE_UNAVAILABLE, discard_session
from .csrf import check_csrf
from .security import safe_next

bp = Blueprint("login", __name__)
login_manager = LoginManager()
login_manager.login_view = "login.login"
login_manager.login_message = "Sign in to see that page."


class WebUser(UserMixin):
    """The signed-in person, kept apart from the ORM row so sessions never hold a DB object."""

    def __init__(self, user, web_session, secret: str):  # rows from services.web_sessions
        self.id = secret  # what flask-login keeps in the cookie
        self.user_id = user.id
        self.name = user.name
        self.web_session_id = web_session.id


@login_manager.user_loader
def _load_user(secret: str):
    # Also runs while an error page renders; with the database down that page shows a signed-out
    # header rather than failing itself.
    try:
        found = web_sessions.resume_web_session(db_session(), secret)
    except DATABASE_UNAVAILABLE:
        discard_session()
        return None
    return WebUser(found[0], found[1], secret) if found else None


def sign_in(user) -> None:
    """Start a web session for `user` in this browser."""
    secret, row = web_sessions.start_web_session(db_session(), user, request.user_agent.string)
    session.permanent = True
    login_user(WebUser(user, row, secret))


def _check_password(name: str, password: str):
    """Throttled per address, per account from this address, and per account for addresses that
    failed for it (services/throttle.py): counted before the check and given back on success, so
    the limits count failures. A failure is an audit event, written in a transaction of its own:
    this answer is a 401, whose unit of work rolls back."""
    attempt = throttle_for(current_app).attempt(throttle.LOGIN, account=name, address=request.remote_addr)
    user = users.authenticate(db_session(), name, password)
    if user is None:
        events.record_account_event(state().engine, events.LOGIN_FAILED, name, {"address": request.remote_addr})
    else:
        attempt.succeeded(within=db_session())
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    target = safe_next(request.values.get("next"))
    if request.method == "POST":
        check_csrf()
        user = _check_password(request.form.get("username", "").strip(), request.form.get("password", ""))
        if user is not None:
            sign_in(user)
            return redirect(target or url_for("login.login"))
        error = "Wrong user name or password."
    if not current_user.is_authenticated:
        return render_template("login.html", error=error, next=target), 401 if error else 200
    if target:
        return redirect(target)
    # Counted with the code, in this request's transaction: loading current_user may have written.
    throttle_for(current_app).attempt(throttle.CODE, account=current_user.name, address=request.remote_addr,
                                      within=db_session())
    user = users.get_by_id(db_session(), current_user.user_id)
    code = state().tokens.issue_code(db_session(), user)
    minutes = state().settings.login_code_seconds // 60
    response = render_template("code.html", code=code, minutes=minutes, registry_url=base_url())
    # A fresh code on every view; none may linger in a cache.
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/logout")
def logout():
    check_csrf()
    if current_user.is_authenticated:
        web_sessions.end_web_session(db_session(), current_user.get_id())
    logout_user()
    return redirect(url_for("pages.home"))
