"""Request bodies, counted as they stream (protocol.md 3.2: the quilt client gzips push bodies).

The body is never read whole before the cap is checked: `wsgi.input` is replaced by a stream
that reads the client's bytes in bounded chunks, inflates gzip as it goes, and raises
`PayloadTooLarge` the moment the decoded body, or the bytes on the wire, pass the cap. That holds
with or without Content-Length (chunked transfer encoding), identity or gzip. Only pushes need
large bodies; every other /api request gets a smaller cap.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from http import HTTPStatus

from ..config import Settings
from ..errors import BadRequest, PayloadTooLarge, RegistryError
from .errors import error_payload

CHUNK_BYTES = 64 * 1024
# Pushes carry the whole tree; nothing else under /api needs more than the small cap.
PUSH_ROUTES = (("PUT", "/api/package/"), ("POST", "/api/package_update/"), ("POST", "/api/v2/push-plan/"),
               ("PUT", "/api/v2/package/"))
LIMITS_KEY = "registry.body_limits"


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    max_bytes: int  # decoded body
    max_values: int  # JSON values, counted before parsing (registry.api.json_input)


class BoundedBodyMiddleware:
    """Puts a BoundedBody in place of `wsgi.input` for every request but fragment uploads (the
    local store caps those itself, at REGISTRY_MAX_FRAGMENT_BYTES), and the limits that apply to
    it in `environ[LIMITS_KEY]` (json_body reads the value cap there). Pages get the page cap:
    their forms are a few fields, and werkzeug reads a form body whole."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.push_limits = BodyLimits(settings.max_request_bytes, settings.max_request_values)
        self.small_limits = BodyLimits(settings.max_small_request_bytes, settings.max_small_request_values)
        self.page_limits = BodyLimits(settings.max_page_request_bytes, 0)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/blobs/"):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if not path.startswith("/api/"):
            limits = self.page_limits
        elif any(method == m and path.startswith(prefix) for m, prefix in PUSH_ROUTES):
            limits = self.push_limits
        else:
            limits = self.small_limits
        try:
            environ["wsgi.input"] = _body_stream(environ, limits.max_bytes)
        except RegistryError as exc:
            return _error(start_response, exc)
        environ["wsgi.input_terminated"] = True  # the stream ends by itself; werkzeug may read it to the end
        environ[LIMITS_KEY] = limits
        return self.app(environ, start_response)


def _body_stream(environ, limit: int) -> "BoundedBody":
    raw_length = environ.get("CONTENT_LENGTH", "").strip()
    if raw_length and not (raw_length.isascii() and raw_length.isdigit()):  # "²" is a digit to Python
        raise BadRequest("Invalid Content-Length")
    length = int(raw_length) if raw_length else None
    if length is not None and length > limit:
        raise _too_large(limit)
    encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise BadRequest(f"Unsupported Content-Encoding: {encoding}")
    gzipped = encoding == "gzip"
    if gzipped:
        # The decoded length is unknown until the end; the app reads until the stream ends.
        environ.pop("CONTENT_LENGTH", None)
        environ.pop("HTTP_CONTENT_ENCODING")
    return BoundedBody(environ["wsgi.input"], length=length, gzipped=gzipped, limit=limit)


class BoundedBody:
    """A read-only stream over the request body: at most `limit` decoded bytes (and at most
    `limit` bytes on the wire), in chunks of at most CHUNK_BYTES. Bad gzip is a BadRequest."""

    def __init__(self, raw, *, length: int | None, gzipped: bool, limit: int):
        self._raw = raw
        self._wire_left = length  # None: read until the server's stream ends (chunked)
        self._wire_read = 0
        self._limit = limit
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        self._pending = b""  # decoded bytes not yet handed out
        self._decoded = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit + 1  # everything: more than the cap allows, so the cap decides
        buffer = bytearray(self._pending)
        while len(buffer) < size and (chunk := self._next_chunk()):
            buffer += chunk
        self._pending = bytes(buffer[size:])
        del buffer[size:]
        return bytes(buffer)

    def _next_chunk(self) -> bytes:
        """The next piece of decoded body, b"" at its end."""
        while not self._done:
            data = self._read_wire() if self._inflater is None else self._inflate()
            if data:
                self._decoded += len(data)
                if self._decoded > self._limit:
                    raise _too_large(self._limit)
                return data
        return b""

    def _read_wire(self) -> bytes:
        size = CHUNK_BYTES if self._wire_left is None else min(CHUNK_BYTES, self._wire_left)
        data = self._raw.read(size) if size else b""
        if not data:
            self._done = True
            return b""
        self._wire_read += len(data)
        if self._wire_left is not None:
            self._wire_left -= len(data)
        if self._wire_read > self._limit:
            raise _too_large(self._limit)
        return data

    def _inflate(self) -> bytes:
        inflater = self._inflater
        if inflater.eof:
            # Concatenated gzip members decode as one body, as gzip.decompress does.
            source = inflater.unused_data or self._read_wire()
            if not source:
                return b""
            inflater = self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            source = inflater.unconsumed_tail or self._read_wire()
            if not source:
                raise BadRequest("The request body is not valid gzip")  # it ended mid-stream
        try:
            return inflater.decompress(source, CHUNK_BYTES)
        except zlib.error:
            raise BadRequest("The request body is not valid gzip") from None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body larger than {limit} bytes")


def _error(start_response, exc: RegistryError):
    # Outside Flask (nothing has run yet): the same payload error_response writes, as bytes.
    payload = json.dumps(error_payload(exc.status, exc.message, exc.code, **exc.details)).encode()
    start_response(f"{exc.status} {HTTPStatus(exc.status).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                    *exc.headers.items()])
    return [payload]
