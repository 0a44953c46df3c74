"""One error shape for every failure under /api and /blobs: {"message", "code", "status"}.

The quilt client prints `message` and crashes on a JSON error without it (protocol.md 3.4),
so even Flask's own 404/405/413 and unexpected exceptions are rendered here.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from .. import metrics
from ..errors import BadRequest, Conflict, RegistryError

log = logging.getLogger(__name__)

CONCURRENT_CHANGE = "Another request changed the same package at the same time; please retry."
# MySQL/MariaDB: 1213 deadlock, 1205 lock wait timeout. Both roll the transaction back.
RETRYABLE_MYSQL_ERRORS = {1205, 1213}


def error_response(status: int, message: str, code: str, **extra) -> Response:
    metrics.ERRORS.labels(code).inc()
    if request.path.startswith(("/api/", "/blobs/")) or request.path == "/api":
        response = jsonify({"message": message, "code": code, "status": status, **extra})
    else:
        response = Response(render_template("error.html", status=status, message=message), mimetype="text/html")
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RegistryError)
    def _registry_error(exc: RegistryError):
        return error_response(exc.status, exc.message, exc.code, **exc.details)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        return error_response(400, f"Invalid request: {_flatten(exc.messages)}", BadRequest.code, errors=exc.messages)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, exc.description or exc.name, code)

    @app.errorhandler(IntegrityError)
    def _integrity_error(exc: IntegrityError):
        # A unique key lost a race with a concurrent request; the transaction is rolled back whole.
        log.warning("integrity error, answered 409: %s", exc.orig)
        return error_response(409, CONCURRENT_CHANGE, Conflict.code)

    @app.errorhandler(OperationalError)
    def _operational_error(exc: OperationalError):
        if getattr(exc.orig, "args", (None,))[0] in RETRYABLE_MYSQL_ERRORS:
            return error_response(409, CONCURRENT_CHANGE, Conflict.code)
        log.exception("database error")
        return error_response(503, "The database is not available right now.", "database_unavailable")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error", "internal_error")


def _flatten(messages) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in messages.items())
    if isinstance(messages, list):
        return ", ".join(_flatten(m) for m in messages)
    return str(messages)
