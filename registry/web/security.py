"""What every HTML page sends besides its body: a strict Content-Security-Policy (our own
scripts and styles only, no inline code), and a session cookie that is Secure whenever the
page was served over HTTPS."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

# README images may come from other sites (badges); everything else only from the registry.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "img-src 'self' https: data:",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


class SessionInterface(SecureCookieSessionInterface):
    """Secure cookies when REGISTRY_PUBLIC_URL is https, and also for any request that came in
    over https (e.g. a TLS proxy in front of a registry without a public URL setting)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, request_: Request):
        # The API authenticates bearer tokens only: no cookie to read, and none to write back.
        if request_.path.startswith("/api/"):
            return self.null_session_class()
        return super().open_session(app, request_)


def add_security_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def safe_next(target: str | None) -> str | None:
    """A path on this site to go to after signing in; anything else (another host, control
    characters such as CR/LF that no Location header may carry) is ignored."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target
