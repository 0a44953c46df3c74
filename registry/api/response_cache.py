"""Whole answers to the hottest metadata GETs, replayed until the next committed write anywhere.

The read cache (registry.read_cache) spares a metadata GET its database round trip; what is
left is the framework's own work (routing, hooks, the caller's token, serialising), several
times the cost of the query. For the reads clients repeat most, a tag and an instance's tree
with its download URLs, this WSGI middleware keeps each whole 200 answer per process:

- **Keyed by everything the answer depends on:** path and query, the Authorization header, the
  host and scheme it was asked at (and the X-Forwarded-* headers a proxy fix would read), and the
  Origin (CORS headers). Only GETs without a body, and only answers of views that call
  `allow_caching()`: views whose answer follows from the key and the database alone.
- **Valid under the write generation of the read cache:** the generation is read once, before
  the answer is looked up or made, so a write that committed before the request (a push, a
  revoked token, a changed access list, anywhere) is always seen. An answer also lasts no longer
  than REGISTRY_READ_CACHE_SECONDS, nor than the bearer token it was made for.
- **Replayed like a request:** its own X-Request-ID, its log line and request metrics, and the
  install events the first answer recorded (created now, counted once more). Answers that
  recorded events are replayed only while this process buffers events.
- **Bounded:** bodies up to MAX_BODY_BYTES (a 1,000-fragment install is ~300 KB), MAX_BYTES in all
  per process, and nothing that sets a cookie. The download URLs in a replayed install were
  signed at most REGISTRY_READ_CACHE_SECONDS before, of their REGISTRY_URL_EXPIRY_SECONDS.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from flask import Flask, g, request

from ..read_cache import GENERATION_KEY
from ..request_log import finish_request, request_id
from ..services import events

CACHEABLE_KEY = "registry.cacheable"  # environ: set by allow_caching(), read once the view answered
MAX_BODY_BYTES = 512 * 1024
MAX_BYTES = 32 * 1024 * 1024
KEY_FIELDS = ("PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "HTTP_AUTHORIZATION", "wsgi.url_scheme", "HTTP_HOST",
              "SERVER_NAME", "SERVER_PORT", "HTTP_ORIGIN", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
              "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")
DROPPED_HEADERS = frozenset({"x-request-id"})  # made anew for each answer


@dataclasses.dataclass(frozen=True)
class Replay:
    """What a kept answer's request did besides answering, done again for each replay."""

    endpoint: str
    path: str
    user: str | None
    events: tuple[dict, ...]  # buffered read events (services.events), without their time
    not_after: float  # epoch seconds: the bearer token's expiry, or never


@dataclasses.dataclass(frozen=True)
class Kept:
    generation: bytes
    not_after: float  # epoch seconds
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    replay: Replay


def allow_caching() -> None:
    """Called by a view whose 200 answer depends on nothing but the response cache's key and the
    database, and whose only side effects are buffered read events: the middleware may keep it."""
    actor = g.get("actor")
    session = g.get("db")
    if session is not None and (session.new or session.dirty or session.deleted):
        return  # an event written with the answer (no event buffer) would not be written again
    pending = session.info.get(events.PENDING_KEY, ()) if session is not None else ()
    request.environ[CACHEABLE_KEY] = Replay(
        endpoint=request.endpoint, path=request.path, user=actor.name if actor is not None else None,
        events=tuple({k: v for k, v in row.items() if k != "created_at"} for row in pending),
        not_after=g.get("credential_expires", float("inf")))


class ResponseCache:
    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app  # for its runtime (the read cache) and its event buffer
        self.runtime = app.extensions["registry"]
        self._entries: dict[tuple, Kept] = {}
        self._bytes = 0
        self._generation: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        cache = self.runtime.read_cache
        if cache is None or not _candidate(environ):
            return self.wsgi_app(environ, start_response)
        generation = cache.generation.current()
        if generation is None:
            return self.wsgi_app(environ, start_response)
        environ[GENERATION_KEY] = generation  # the request's cached reads use the same one
        key = tuple(map(environ.get, KEY_FIELDS))
        kept = self._entries.get(key)
        if kept is not None and kept.generation == generation and time.time() < kept.not_after:
            buffer = events.event_buffer(self.app) if kept.replay.events else None
            if buffer is not None or not kept.replay.events:
                return self._replay(kept, buffer, environ, start_response)
        return self._answer_and_keep(key, generation, cache.seconds, environ, start_response)

    def _answer_and_keep(self, key, generation: bytes, seconds: float, environ, start_response):
        answered = []

        def capture(status, headers, exc_info=None):
            answered[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        replay = environ.get(CACHEABLE_KEY)
        if replay is None or not answered or not answered[0].startswith("200 ") or _too_big(answered[1]):
            return body
        try:
            whole = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        headers = [(name, value) for name, value in answered[1] if name.lower() not in DROPPED_HEADERS]
        if len(whole) <= MAX_BODY_BYTES and not any(name.lower() == "set-cookie" for name, _ in headers):
            self._keep(key, Kept(generation, min(time.time() + seconds, replay.not_after), answered[0], headers,
                                 whole, replay))
        return [whole]

    def _keep(self, key, kept: Kept) -> None:
        with self._lock:
            if kept.generation != self._generation or self._bytes + len(kept.body) > MAX_BYTES:
                self._entries, self._bytes, self._generation = {}, 0, kept.generation
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._entries[key] = kept
            self._bytes += len(kept.body)

    def _replay(self, kept: Kept, buffer, environ, start_response):
        started = time.perf_counter()
        answer_id = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(kept.status, [*kept.headers, ("X-Request-ID", answer_id)])
        replay = kept.replay
        if replay.events:
            events.replay(buffer, replay.events)
        finish_request(answer_id, "GET", replay.path, replay.endpoint, 200, time.perf_counter() - started,
                       replay.user, environ.get("REMOTE_ADDR"))
        return [kept.body]


def _too_big(headers) -> bool:
    """An answer that says it is too big to keep goes out untouched (a 100,000-fragment install is
    30 MB: not worth joining in memory only to drop)."""
    for name, value in headers:
        if name.lower() == "content-length":
            return not value.isdigit() or int(value) > MAX_BODY_BYTES
    return False


def _candidate(environ) -> bool:
    """A GET of the API without a body."""
    return (environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO", "").startswith("/api/")
            and environ.get("CONTENT_LENGTH", "") in ("", "0") and "HTTP_TRANSFER_ENCODING" not in environ)
