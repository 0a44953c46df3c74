"""Request-body decoding for /api: the quilt client gzips push bodies (protocol.md 3.2).

Decompression is capped, so a small gzip bomb cannot expand into gigabytes of memory.
"""

from __future__ import annotations

import io
import json
import zlib


class ApiBodyMiddleware:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith("/api/"):
            return self.app(environ, start_response)
        encoding = environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_bytes:
            return _error(start_response, 413, f"Request body larger than {self.max_bytes} bytes")
        if encoding in ("", "identity"):
            return self.app(environ, start_response)
        if encoding != "gzip":
            return _error(start_response, 400, f"Unsupported Content-Encoding: {encoding}")
        try:
            body = self._gunzip(environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read())
        except zlib.error:
            return _error(start_response, 400, "The request body is not valid gzip")
        except OverflowError:
            return _error(start_response, 413, f"Decompressed request body larger than {self.max_bytes} bytes")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_CONTENT_ENCODING")
        return self.app(environ, start_response)

    def _gunzip(self, data: bytes) -> bytes:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = decompressor.decompress(data, self.max_bytes + 1)
        if len(body) > self.max_bytes or decompressor.unconsumed_tail:
            raise OverflowError
        if not decompressor.eof:
            raise zlib.error("truncated gzip stream")
        return body


def _error(start_response, status: int, message: str):
    reason = {400: "BAD REQUEST", 413: "REQUEST ENTITY TOO LARGE"}[status]
    payload = json.dumps({"message": message, "code": reason.lower().replace(" ", "_"), "status": status}).encode()
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
