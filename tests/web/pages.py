"""Small helpers for page tests: a browser is a Flask test client with its own cookies."""

from __future__ import annotations

import re

PASSWORD = "a long password"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def get(client, url: str) -> tuple[int, str]:
    response = client.get(url)
    return response.status_code, text(response)


def sign_in(client, name: str, password: str = PASSWORD, next_url: str | None = None):
    form = client.get("/login")
    data = {"username": name, "password": password, "csrf_token": csrf(text(form))}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def post_form(client, url: str, data: dict, *, page: str = "/login"):
    """Submit a form the way a browser does: with the CSRF token from a page of the same session."""
    token = csrf(text(client.get(page)))
    return client.post(url, data={**data, "csrf_token": token})


def signed_in_as(client) -> str | None:
    match = re.search(r"Signed in as <a [^>]*><strong>([^<]+)</strong>", text(client.get("/")))
    return match.group(1) if match else None
