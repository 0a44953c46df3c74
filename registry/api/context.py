"""Per-request plumbing shared by every route: session, caller, service context, JSON body."""

from __future__ import annotations

from flask import Flask, g, request
from sqlalchemy.orm import Session

from ..errors import BadRequest, Unauthorized
from ..services.context import ANONYMOUS, Actor, Context
from ..state import state

# Endpoints an anonymous caller may use even when the deployment disallows anonymous access.
ALWAYS_ANONYMOUS = {"auth.token"}


def db_session() -> Session:
    if "db" not in g:
        g.db = state().session_factory()
    return g.db


def base_url() -> str:
    return state().settings.public_url.rstrip("/") or request.host_url.rstrip("/")


def service_context() -> Context:
    registry = state()
    return Context(session=db_session(), settings=registry.settings, store=registry.store.bind(base_url()),
                   actor=g.get("actor", ANONYMOUS), base_url=base_url())


def json_body():
    """The parsed JSON body; a malformed body is a JSON 400, not Flask's HTML page."""
    data = request.get_json(silent=True, force=True)
    if data is None and request.get_data(cache=True).strip():
        raise BadRequest("The request body is not valid JSON")
    return data


def _authenticate_api_request():
    header = request.headers.get("Authorization", "").strip()
    g.actor = ANONYMOUS
    if header:
        # "Bearer <token>" as the quilt client sends it; a bare token is accepted for parity.
        token = header[7:].strip() if header.lower().startswith("bearer ") else header
        g.actor = Actor(state().tokens.authenticate(db_session(), token))
    elif not state().settings.allow_anonymous_access and request.endpoint not in ALWAYS_ANONYMOUS:
        raise Unauthorized("Not logged in")


def init_request_handling(app: Flask) -> None:
    @app.before_request
    def _before():
        if request.path.startswith("/api/"):
            _authenticate_api_request()

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db", None)
        if session is not None:
            session.close()

    @app.after_request
    def _cors(response):
        # Browsers on other origins may call the API (protocol.md 3.8); credentials are bearer tokens.
        origin = request.headers.get("Origin")
        if origin and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Content-Encoding"
            response.headers["Access-Control-Allow-Methods"] = "GET, PUT, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "86400"
            response.headers.add("Vary", "Origin")
        return response
