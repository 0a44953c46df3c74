"""The password page behind the links of /api/users/create and /api/users/reset_password."""

import re
import time
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select, update

from registry.models import User
from registry.services import users
from tests.api.test_auth import csrf, sign_in

NEW_PASSWORD = "a new long password"


@pytest.fixture
def admin(registry):
    registry.create_user("root", admin=True)
    return registry.token("root")


def link(registry, admin, action: str, body: dict) -> str:
    response = registry.api("POST", f"/api/users/{action}", token=admin, body=body)
    assert response.status_code == 200
    return urlsplit(response.get_json()["password_url"]).path


def set_password(registry, path: str, password=NEW_PASSWORD, confirm=NEW_PASSWORD):
    form = registry.client.get(path)
    assert form.status_code == 200
    return registry.client.post(path, data={"password": password, "confirm": confirm, "csrf_token": csrf(form)})


def test_a_new_user_sets_a_password_and_signs_in(registry, admin):
    path = link(registry, admin, "create", {"username": "bob", "email": "bob@example.org"})
    form = registry.client.get(path)
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "<strong>bob</strong>" in page
    assert '<label for="password">' in page and '<label for="confirm">' in page
    assert (form.headers["Referrer-Policy"], form.headers["Cache-Control"]) == ("no-referrer", "no-store")
    done = set_password(registry, path)
    assert (done.status_code, urlsplit(done.headers["Location"]).path) == (302, "/login")
    assert sign_in(registry, "bob", NEW_PASSWORD).status_code == 302
    assert "Your login code" in registry.client.get("/login").get_data(as_text=True)
    # Single use: the password changed, so the link is dead.
    used = registry.client.get(path)
    assert used.status_code == 404 and "This password link is not valid" in used.get_data(as_text=True)
    assert registry.client.post(path, data={"password": "x" * 9, "confirm": "x" * 9,
                                            "csrf_token": csrf(form)}).status_code == 404


@pytest.mark.parametrize("password,confirm,message", [
    (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords do not match."),
    ("short", "short", "Password must be at least 8 characters long."),
])
def test_form_errors_keep_the_link_usable(registry, admin, password, confirm, message):
    path = link(registry, admin, "create", {"username": "bob", "email": "bob@example.org"})
    refused = set_password(registry, path, password, confirm)
    assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert 'name="confirm"' in refused.get_data(as_text=True)
    with registry.state.session_factory() as session:
        assert session.scalar(select(User.password_hash).where(User.name == "bob")) is None
    assert set_password(registry, path).status_code == 302


def test_reset_kills_the_old_password_old_links_and_sessions(registry, admin):
    created = link(registry, admin, "create", {"username": "bob", "email": "bob@example.org"})
    assert set_password(registry, created).status_code == 302
    token = registry.token("bob")
    reset = link(registry, admin, "reset_password", {"username": "bob"})
    assert registry.client.get(created).status_code == 404  # the creation link does not come back
    assert sign_in(registry, "bob", NEW_PASSWORD).status_code == 401
    second = link(registry, admin, "reset_password", {"username": "bob"})
    assert registry.client.get(reset).status_code == 404  # each reset invalidates the one before
    token_after_reset = registry.token("bob")
    assert set_password(registry, second, "another password", "another password").status_code == 302
    assert registry.api("GET", "/api/package/bob/", token=token).status_code == 401
    assert registry.api("GET", "/api/package/bob/", token=token_after_reset).status_code == 401
    assert sign_in(registry, "bob", "another password").status_code == 302


def test_bad_expired_and_disabled_links_are_404(registry, admin, monkeypatch):
    path = link(registry, admin, "create", {"username": "bob", "email": "bob@example.org"})
    assert registry.client.get(path[:-3] + "xyz").status_code == 404
    assert registry.client.get("/password/nonsense").status_code == 404
    with registry.state.session_factory() as session:
        bob = session.scalar(select(User).where(User.name == "bob"))
        forged = users.password_token("another secret", bob)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 24 * 3600 - 1)
        expired = users.password_token(registry.app.config["SECRET_KEY"], bob)
        monkeypatch.undo()
    assert registry.client.get(f"/password/{forged}").status_code == 404
    assert registry.client.get(f"/password/{expired}").status_code == 404
    with registry.state.session_factory() as session:
        session.execute(update(User).where(User.name == "bob").values(is_active=False))
        session.commit()
    assert registry.client.get(path).status_code == 404


def test_the_form_needs_its_csrf_token(registry, admin):
    path = link(registry, admin, "create", {"username": "bob", "email": "bob@example.org"})
    forged = registry.client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert forged.status_code == 400
    assert re.search(r"did not come from this site", forged.get_data(as_text=True))
    with registry.state.session_factory() as session:
        assert session.scalar(select(User.password_hash).where(User.name == "bob")) is None
