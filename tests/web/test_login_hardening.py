"""Hostile values on the sign-in page answer 4xx, never 500 (issue 9, item 9)."""

from __future__ import annotations

import re

import pytest

from registry.web.security import safe_next

PASSWORD = "correct horse"


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)


@pytest.mark.parametrize("target", ["/%0D%0Ax", "/%0Aevil", "/ok%09x", "/%7Fx", "/%00"])
def test_next_with_control_characters_is_ignored_when_signed_in(registry, target):
    registry.create_user("alice", password=PASSWORD)
    signed_in = registry.client.post(f"/login?next={target}", data={"username": "alice", "password": PASSWORD,
                                                                   "csrf_token": csrf(registry.client)})
    assert (signed_in.status_code, signed_in.headers["Location"]) == (302, "/login")
    page = registry.client.get(f"/login?next={target}")  # signed in: the code page, not a redirect
    assert page.status_code == 200 and "login-code" in page.get_data(as_text=True)


def test_safe_next_keeps_plain_paths_only():
    assert safe_next("/package/alice/census?x=1") == "/package/alice/census?x=1"
    for unsafe in ("/\r\nSet-Cookie: x", "/a\tb", "//evil.example", "/\\evil", "https://evil.example/", "x"):
        assert safe_next(unsafe) is None, unsafe


@pytest.mark.parametrize("token", ["é" * 10, "\u2603", "a\u00ffb"])
def test_a_non_ascii_csrf_token_is_a_400(registry, token):
    registry.create_user("alice", password=PASSWORD)
    csrf(registry.client)  # the session now holds a real token
    response = registry.client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 400
    assert "The form expired or did not come from this site." in response.get_data(as_text=True)
