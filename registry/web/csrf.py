"""CSRF protection for the HTML forms: a random token kept in the signed session cookie."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    expected = session.get("csrf")
    submitted = request.form.get("csrf_token", "")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass")):
        abort(400, "The form expired or did not come from this site. Reload the page and try again.")
