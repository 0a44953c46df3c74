"""A data-package registry, wire-compatible with the quilt 2.x client.

`create_app(settings)` builds everything; importing the package does nothing.
"""

from __future__ import annotations

from flask import Flask

from .config import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    from .api import register_api
    from .api.context import init_request_handling
    from .api.errors import register_error_handlers
    from .api.bodies import BoundedBodyMiddleware
    from .request_log import init_request_log
    from .db import DatabaseTimeouts, make_engine, make_session_factory
    from .secrets import make_private_database_file, resolve_secret_key
    from .services.tokens import TokenService
    from .state import RegistryState
    from .storage import make_store
    from .unit_of_work import init_unit_of_work
    from .web import register_web

    settings = settings or Settings.from_env()
    secret_key = resolve_secret_key(settings)
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    make_private_database_file(settings)  # before SQLite creates it world-readable
    engine = make_engine(settings.effective_database_url, DatabaseTimeouts.from_settings(settings))
    app.extensions["registry"] = RegistryState(
        settings=settings, engine=engine, session_factory=make_session_factory(engine),
        store=make_store(settings, secret_key), tokens=TokenService(settings, secret_key))
    init_request_log(app)
    init_request_handling(app)
    register_error_handlers(app)
    register_api(app)
    register_web(app)
    init_unit_of_work(app)  # after every blueprint: it wraps each view
    app.wsgi_app = BoundedBodyMiddleware(app.wsgi_app, settings)
    return app
