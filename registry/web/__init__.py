"""Browser-facing routes: home, search, package, instance and user pages, sign-in and code page,
sign-up, account, password links, health, and the local store's blob URLs."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from ..services.web_sessions import WEB_SESSION_DAYS
from ..state import state
from ..storage import LocalBlobStore
from . import account, blobs, login, packages, pages, password, search, signup, users
from .csrf import csrf_token
from .formatting import register_filters
from .security import SessionInterface, add_security_headers


PAGES = (login, signup, account, pages, search, packages, users, password)


def register_web(app: Flask) -> None:
    """The pages, and `/blobs/...` where the registry serves the bytes itself (the local store;
    on S3 the path is not ours: a plain 404). `app.extensions["registry"]` is built already."""
    login.login_manager.init_app(app)
    app.session_interface = SessionInterface()
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(days=WEB_SESSION_DAYS)
    app.jinja_env.globals["csrf_token"] = csrf_token
    register_filters(app)
    app.context_processor(lambda: {"signup_enabled": state().settings.allow_signup})
    app.after_request(add_security_headers)
    local = isinstance(app.extensions["registry"].store, LocalBlobStore)
    for module in ((blobs,) if local else ()) + PAGES:
        app.register_blueprint(module.bp)
