"""Per-request plumbing shared by every route: session, caller, service context, JSON body."""

from __future__ import annotations

from flask import Flask, g, request

from ..errors import Unauthorized
from ..request_scope import base_url, cached_reads, context_for, db_session
from ..services.context import ANONYMOUS, Actor, Context
from ..state import state
from .bodies import CHUNK_BYTES, LIMITS_KEY
from .json_input import parse_json

__all__ = ["base_url", "db_session", "json_body", "service_context", "init_request_handling"]

# Endpoints an anonymous caller may use even when the deployment disallows anonymous access.
ALWAYS_ANONYMOUS = {"auth.token"}


def service_context() -> Context:
    """The service Context of this API request, for the bearer token's caller."""
    return context_for(g.get("actor", ANONYMOUS))


def json_body():
    """The parsed JSON body (None when empty), within the request's limits (registry.api.bodies);
    a malformed, too deep or too large body is a JSON 4xx. Parsed once: a retried view reuses it."""
    if "json_body" not in g:
        limits = request.environ[LIMITS_KEY]
        body = bytearray()
        while chunk := request.stream.read(CHUNK_BYTES):  # counted and capped as it streams
            body += chunk
        g.json_body = None if body.isspace() or not body else parse_json(body, max_values=limits.max_values)
    return g.json_body


def _authenticate_api_request():
    header = request.headers.get("Authorization", "").strip()
    g.actor = ANONYMOUS
    if header:
        # "Bearer <token>" as the quilt client sends it; a bare token is accepted for parity.
        token = header[7:].strip() if header.lower().startswith("bearer ") else header
        user, g.credential_expires = state().tokens.authenticate_until(db_session(), token, cached_reads())
        g.actor = Actor(user)
    elif not state().settings.allow_anonymous_access and request.endpoint not in ALWAYS_ANONYMOUS:
        raise Unauthorized("Not logged in")


def init_request_handling(app: Flask) -> None:
    @app.before_request
    def _before():
        if request.path.startswith("/api/"):
            _authenticate_api_request()

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
