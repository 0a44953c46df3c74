"""A data-package registry, wire-compatible with the quilt 2.x client.

`create_app(settings)` builds everything; importing the package does nothing.
"""

from __future__ import annotations

from flask import Flask

from .config import Settings

__all__ = ["Settings", "create_app"]


class RegistryFlask(Flask):
    def ensure_sync(self, func):
        # Flask asks, for every hook and view of every request, whether it is a coroutine
        # function; the registry has none (tests/test_layers.py checks), so each is run as is.
        return func


def create_app(settings: Settings | None = None) -> Flask:
    from .api import register_api
    from .api.context import init_request_handling
    from .api.errors import register_error_handlers
    from .api.bodies import BoundedBodyMiddleware
    from .api.response_cache import ResponseCache
    from .request_log import init_request_log
    from .db import DatabaseTimeouts
    from .runtime import build_runtime
    from .unit_of_work import init_unit_of_work
    from .web import register_web

    settings = settings or Settings.from_env()
    runtime = build_runtime(settings, timeouts=DatabaseTimeouts.from_settings(settings))
    app = RegistryFlask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(
        SECRET_KEY=runtime.secret_key,  # for Flask's session cookie; registry code reads state().secret_key
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.extensions["registry"] = runtime  # registry.state.state() in requests
    init_request_log(app)
    init_request_handling(app)
    register_error_handlers(app)
    register_api(app)
    register_web(app)
    init_unit_of_work(app)  # after every blueprint: it wraps each view
    # Outermost: a kept answer needs no body limits (it is only ever a GET without a body).
    app.wsgi_app = ResponseCache(BoundedBodyMiddleware(app.wsgi_app, settings), app)
    return app
