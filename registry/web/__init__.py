"""Browser-facing routes: sign-in and code page, password links, home, health, and the local store's blob URLs."""

from __future__ import annotations

from flask import Flask

from . import blobs, login, pages, password
from .csrf import csrf_token


def register_web(app: Flask) -> None:
    login.login_manager.init_app(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    for module in (blobs, login, pages, password):
        app.register_blueprint(module.bp)
