"""One JSON line per request on stdout (request id, user, endpoint, status, duration), and the
request metrics, from one pair of hooks."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from . import metrics

log = logging.getLogger("registry.requests")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                           **getattr(record, "fields", {"message": record.getMessage()})})


def _configure_once() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLines())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _user() -> str | None:
    """Who made the request, from what is already known: logging never queries the database."""
    actor = g.get("actor")
    if actor is not None and actor.name:
        return actor.name
    web_user = g.get("_login_user")  # set by flask-login only once the view asked for it
    return getattr(web_user, "name", None) if web_user is not None and web_user.is_authenticated else None


def request_id(incoming: str) -> str:
    """The client's X-Request-ID when it is a sane one, else a new id."""
    return incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


def finish_request(request_id_: str, method: str, path: str, endpoint: str, status: int, seconds: float,
                   user: str | None, remote: str | None) -> None:
    """The request's metrics and its log line (also for answers the response cache replays)."""
    metrics.observe_request(endpoint, method, status, seconds)
    if log.isEnabledFor(logging.INFO):
        fields = {"request_id": request_id_, "method": method, "path": path, "endpoint": endpoint, "status": status,
                  "duration_ms": round(seconds * 1000, 2), "user": user, "remote": remote}
        # log.info() without its search of the stack for the caller, which no line shows.
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}))


def init_request_log(app: Flask) -> None:
    _configure_once()

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def _finish(response):
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers["X-Request-ID"] = g.get("request_id", "")
        finish_request(g.get("request_id"), request.method, request.path, request.endpoint or "unmatched",
                       response.status_code, seconds, _user(), request.remote_addr)
        return response
