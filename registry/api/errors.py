"""One error shape for every failure under /api and /blobs: {"message", "code", "status"}.

The quilt client prints `message` and crashes on a JSON error without it (protocol.md 3.4),
so even Flask's own 404/405/413 and unexpected exceptions are rendered here.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from .. import metrics
from ..errors import (BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RegistryError, TooManyRequests,
                      Unauthorized, UnsupportedMediaType)
from ..statement_limits import is_statement_timeout
from ..unit_of_work import CONCURRENT_CHANGE, DATABASE_UNAVAILABLE, discard_session, is_database_unavailable

log = logging.getLogger(__name__)

# A 503 always says when to come back; dependencies recover within seconds.
DEFAULT_RETRY_AFTER = "5"


# Flask's own 4xx answer with the code our error of that status has (its 413 would otherwise
# say "request_entity_too_large" where the body layer says "payload_too_large").
_CODES = {kind.status: kind.code for kind in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict,
                                              PayloadTooLarge, UnsupportedMediaType, TooManyRequests)}


def error_payload(status: int, message: str, code: str, **extra) -> dict:
    """The one error shape, written here only: for Flask's answers (error_response) and for the
    ones the body layer gives before Flask runs (registry.api.bodies)."""
    return {"message": message, "code": code, "status": status, **extra}


def error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None,
                   **extra) -> Response:
    metrics.ERRORS.labels(code).inc()
    discard_session()  # whatever failed, nothing of this request's work is kept or touched again
    if request.path.startswith(("/api/", "/blobs/")) or request.path == "/api":
        response = jsonify(error_payload(status, message, code, **extra))
    else:
        response = Response(render_template("error.html", status=status, message=message), mimetype="text/html")
    response.status_code = status
    response.headers.update(headers or {})
    if status == 503:
        response.headers.setdefault("Retry-After", DEFAULT_RETRY_AFTER)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RegistryError)
    def _registry_error(exc: RegistryError):
        return error_response(exc.status, exc.message, exc.code, exc.headers, **exc.details)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        # The first few errors only: a body of a million bad elements must not get a 60 MB answer.
        errors = _first_errors(exc.messages, [MAX_ERRORS_SHOWN])
        return error_response(400, f"Invalid request: {_flatten(errors)}", BadRequest.code, errors=errors)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = _CODES.get(exc.code) or (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, exc.description or exc.name, code)

    @app.errorhandler(IntegrityError)
    def _integrity_error(exc: IntegrityError):
        # Outside a view's unit of work (which retries these): a unique key lost a race.
        log.warning("integrity error, answered 409: %s", exc.orig)
        return error_response(409, CONCURRENT_CHANGE, Conflict.code)

    def _database_unavailable(exc: Exception):
        if is_statement_timeout(getattr(exc, "orig", None)):
            # The database stopped the statement at its bound; the request's work was rolled back.
            log.warning("database statement stopped at its time bound on %s %s", request.method, request.path)
            return error_response(503, "The database took too long over this request and stopped it; "
                                       "please retry later, or ask for less (for a search, fewer words).",
                                  "database_timeout")
        if not is_database_unavailable(exc):
            return _unexpected(exc)  # a statement the database refused is a bug, not an outage
        # Lost connections, timeouts, a server restarting: the request's work was rolled back.
        log.error("database unavailable on %s %s: %s", request.method, request.path, getattr(exc, "orig", exc))
        return error_response(503, "The database is not available right now; please retry.",
                              "database_unavailable")

    for kind in DATABASE_UNAVAILABLE:
        app.register_error_handler(kind, _database_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error", "internal_error")


MAX_ERRORS_SHOWN = 10  # validation messages in one answer
MAX_ERROR_CHARS = 200  # of each message, and of each field name or key shown


def _first_errors(messages, room: list[int]):
    """`messages` cut to the first `room[0]` leaf messages (room is shared down the recursion),
    each message and key cut to MAX_ERROR_CHARS; "..." marks what was left out."""
    if isinstance(messages, dict):
        shown = {}
        for key, value in messages.items():
            if room[0] <= 0:
                shown["..."] = [f"{len(messages) - len(shown)} more"]
                break
            shown[key if isinstance(key, int) else _cut(str(key))] = _first_errors(value, room)
        return shown
    if isinstance(messages, list):
        shown = []
        for value in messages:
            if room[0] <= 0:
                shown.append("...")
                break
            shown.append(_first_errors(value, room))
        return shown
    room[0] -= 1
    return _cut(str(messages))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."


def _flatten(messages) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in messages.items())
    if isinstance(messages, list):
        return ", ".join(_flatten(m) for m in messages)
    return str(messages)
