"""Sign in, the one-time code page `quilt login` sends people to, sign out."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from ..api.context import base_url, db_session
from ..models import User
from ..services import users
from ..state import state
from .csrf import check_csrf

bp = Blueprint("login", __name__)
login_manager = LoginManager()
login_manager.login_view = "login.login"


class WebUser(UserMixin):
    """The signed-in person, kept apart from the ORM row so sessions never hold a DB object."""

    def __init__(self, user: User):
        self.id = str(user.id)
        self.name = user.name


@login_manager.user_loader
def _load_user(user_id: str):
    user = db_session().get(User, int(user_id)) if user_id.isdigit() else None
    return WebUser(user) if user is not None and user.is_active else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        check_csrf()
        user = users.authenticate(db_session(), request.form.get("username", "").strip(),
                                  request.form.get("password", ""))
        if user is not None:
            db_session().commit()
            login_user(WebUser(user))
            return redirect(url_for("login.login"))
        error = "Wrong user name or password."
    if not current_user.is_authenticated:
        return render_template("login.html", error=error), 401 if error else 200
    user = db_session().get(User, int(current_user.id))
    code = state().tokens.issue_code(db_session(), user)
    db_session().commit()
    minutes = state().settings.login_code_seconds // 60
    return render_template("code.html", code=code, minutes=minutes, registry_url=base_url())


@bp.post("/logout")
def logout():
    check_csrf()
    logout_user()
    return redirect(url_for("login.login"))
