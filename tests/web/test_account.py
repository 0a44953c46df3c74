"""Sign-up, sign-in redirects, the account page (password, client tokens, browsers), sign-out,
CSRF on every form, and the session cookie's flags."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
from flask import request
from sqlalchemy import select

from registry import Settings, create_app
from registry.models import User, WebSession
from tests.helpers import TestRegistry
from tests.web.pages import PASSWORD, csrf, get, post_form, sign_in, signed_in_as, text

NEW_PASSWORD = "another long password"


def location(response) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{unquote(parts.query)}" if parts.query else "")


def signup(client, **fields):
    form = {"username": "dora", "email": "", "password": PASSWORD, "confirm": PASSWORD, **fields}
    return post_form(client, "/signup", form, page="/signup")


def test_sign_up_creates_an_active_account_and_signs_in(registry):
    page = registry.client.get("/signup")
    assert page.status_code == 200 and '<label for="confirm">' in text(page)
    done = signup(registry.client, email="dora@example.org")
    assert (done.status_code, location(done)) == (302, "/")
    assert "Welcome, dora. Your account is ready." in text(registry.client.get("/"))
    assert signed_in_as(registry.client) == "dora"
    with registry.state.session_factory() as session:
        dora = session.scalar(select(User).where(User.name == "dora"))
        assert dora.is_active and not dora.is_admin and dora.email == "dora@example.org"
    assert get(registry.client, "/signup")[0] == 302  # already signed in
    assert sign_in(registry.app.test_client(), "dora").status_code == 302


@pytest.mark.parametrize("fields,status,message", [
    ({"confirm": "something else"}, 400, "The two passwords do not match."),
    ({"password": "short", "confirm": "short"}, 400, "Password must be at least 8 characters long."),
    ({"username": "Not Valid"}, 400, "Username is not valid."),
    ({"username": "public"}, 400, "Invalid username. &#39;public&#39; is reserved."),
    ({"username": "taken"}, 409, "Username already taken."),
])
def test_sign_up_errors_keep_the_form(registry, fields, status, message):
    registry.create_user("taken")
    refused = signup(registry.client, **fields)
    assert refused.status_code == status and message in text(refused)
    assert 'name="username"' in text(refused) and signed_in_as(registry.client) is None


def test_sign_up_can_be_disabled(settings):
    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_signup": False})))
    assert closed.client.get("/signup").status_code == 404
    assert closed.client.post("/signup", data={"username": "dora"}).status_code == 404
    assert 'href="/signup"' not in text(closed.client.get("/login"))
    assert 'href="/signup"' not in text(closed.client.get("/"))
    closed.app.extensions["registry"].engine.dispose()


def test_sign_in_returns_to_the_page_it_came_from_and_only_on_this_site(registry):
    registry.create_user("alice", password=PASSWORD)
    assert 'href="/login?next=/user/alice"' in text(registry.client.get("/user/alice"))
    back = sign_in(registry.client, "alice", next_url="/user/alice")
    assert (back.status_code, location(back)) == (302, "/user/alice")
    for unsafe in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client = registry.app.test_client()
        response = sign_in(client, "alice", next_url=unsafe)
        assert (response.status_code, location(response)) == (302, "/login"), unsafe
    # Pages for the signed-in only send strangers to sign in first.
    anonymous = registry.app.test_client().get("/account")
    assert (anonymous.status_code, location(anonymous)) == (302, "/login?next=/account")


def test_every_form_needs_its_csrf_token(registry):
    registry.create_user("alice", password=PASSWORD)
    sign_in(registry.client, "alice")
    for url, data in [("/logout", {}), ("/account/password", {"current": PASSWORD, "password": NEW_PASSWORD,
                                                             "confirm": NEW_PASSWORD}),
                      ("/account/sessions/1/revoke", {}), ("/account/tokens/1/revoke", {})]:
        response = registry.client.post(url, data=data)
        assert response.status_code == 400 and "did not come from this site" in text(response), url
    assert registry.app.test_client().post("/signup", data={"username": "eve", "password": PASSWORD,
                                                             "confirm": PASSWORD}).status_code == 400
    assert signed_in_as(registry.client) == "alice"


def test_sign_out_ends_the_session_for_good(registry):
    registry.create_user("alice", password=PASSWORD)
    sign_in(registry.client, "alice")
    stolen_cookie = registry.client.get_cookie("session").value
    out = post_form(registry.client, "/logout", {})
    assert (out.status_code, location(out)) == (302, "/")
    assert signed_in_as(registry.client) is None
    replay = registry.app.test_client()
    replay.set_cookie("session", stolen_cookie)
    assert signed_in_as(replay) is None  # the cookie names a session that no longer exists


def sessions_table(client) -> list[tuple[str, bool]]:
    page = text(client.get("/account"))
    table = page[page.index('id="sessions-heading"'):page.index('id="tokens-heading"')]
    return [(int(i), "(this browser)" in row) for row, i in
            re.findall(r"(<tr>.*?/account/sessions/(\d+)/revoke.*?</tr>)", table, re.S)]


def test_people_see_and_end_their_own_browsers(registry):
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("bob", password=PASSWORD)
    laptop, phone, bobs = (registry.app.test_client() for _ in range(3))
    sign_in(laptop, "alice")
    sign_in(phone, "alice")
    sign_in(bobs, "bob")
    listed = sessions_table(laptop)
    assert len(listed) == 2 and sum(current for _, current in listed) == 1
    phone_id = next(i for i, current in listed if not current)
    laptop_id = next(i for i, current in listed if current)
    # Someone else's session is not theirs to end.
    assert post_form(bobs, f"/account/sessions/{phone_id}/revoke", {}).status_code == 404
    assert signed_in_as(phone) == "alice"
    ended = post_form(laptop, f"/account/sessions/{phone_id}/revoke", {})
    assert (ended.status_code, location(ended)) == (302, "/account")
    assert signed_in_as(phone) is None and signed_in_as(laptop) == "alice"
    own = post_form(laptop, f"/account/sessions/{laptop_id}/revoke", {})
    assert (own.status_code, location(own)) == (302, "/") and signed_in_as(laptop) is None


def test_people_see_and_revoke_their_client_tokens(registry):
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("bob")
    token = registry.token("alice")
    bob_token = registry.token("bob")
    sign_in(registry.client, "alice")
    page = text(registry.client.get("/account"))
    ids = re.findall(r'action="/account/tokens/(\d+)/revoke"', page)
    assert len(ids) == 1 and registry.client.get("/account").headers["Cache-Control"] == "no-store"
    with registry.state.session_factory() as session:
        bobs_id = session.scalar(select(User.id).where(User.name == "bob"))
    assert registry.api("GET", "/api/package/alice/", token=token).status_code == 200
    revoked = post_form(registry.client, f"/account/tokens/{ids[0]}/revoke", {})
    assert (revoked.status_code, location(revoked)) == (302, "/account")
    assert registry.api("GET", "/api/package/alice/", token=token).status_code == 401
    assert "No client is signed in as you." in text(registry.client.get("/account"))
    assert post_form(registry.client, f"/account/tokens/{ids[0]}/revoke", {}).status_code == 404
    assert post_form(registry.client, f"/account/tokens/{int(ids[0]) + 1}/revoke", {}).status_code == 404
    assert registry.api("GET", "/api/package/bob/", token=bob_token).status_code == 200
    assert bobs_id  # bob's token (the next id) was not touched


def test_changing_the_password_signs_out_everything_else(registry):
    registry.create_user("alice", password=PASSWORD)
    token = registry.token("alice")
    other = registry.app.test_client()
    sign_in(other, "alice")
    sign_in(registry.client, "alice")
    wrong = post_form(registry.client, "/account/password",
                      {"current": "not it at all", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 400 and "The current password is not correct." in text(wrong)
    mismatch = post_form(registry.client, "/account/password",
                         {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert mismatch.status_code == 400 and "The two passwords do not match." in text(mismatch)
    done = post_form(registry.client, "/account/password",
                     {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert (done.status_code, location(done)) == (302, "/account")
    assert signed_in_as(registry.client) == "alice"  # this browser stays signed in
    assert signed_in_as(other) is None
    assert registry.api("GET", "/api/package/alice/", token=token).status_code == 401
    assert sign_in(registry.app.test_client(), "alice").status_code == 401
    assert sign_in(registry.app.test_client(), "alice", NEW_PASSWORD).status_code == 302


def test_an_administrator_reset_or_disable_ends_web_sessions(registry):
    registry.create_user("root", admin=True)
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("bob", password=PASSWORD)
    admin = registry.token("root")
    sign_in(registry.client, "alice")
    bob = registry.app.test_client()
    sign_in(bob, "bob")
    assert registry.api("POST", "/api/users/reset_password", token=admin, body={"username": "alice"}).status_code == 200
    assert signed_in_as(registry.client) is None
    assert registry.api("POST", "/api/users/disable", token=admin, body={"username": "bob"}).status_code == 200
    assert signed_in_as(bob) is None
    with registry.state.session_factory() as session:
        assert session.scalars(select(WebSession)).all() == []


def test_session_cookie_flags(registry):
    registry.create_user("alice", password=PASSWORD)
    plain = sign_in(registry.client, "alice").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure_client = registry.app.test_client()
    form = secure_client.get("/login", base_url="https://registry.example")
    secure = secure_client.post("/login", base_url="https://registry.example",
                                data={"username": "alice", "password": PASSWORD, "csrf_token": csrf(text(form))})
    cookie = secure.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_api_requests_neither_read_nor_write_the_session_cookie(registry):
    """The API knows bearer tokens only: a signed-in browser's cookie is not opened for it, and
    an API answer never sets one (pages still do)."""
    registry.create_user("alice", password=PASSWORD)
    sign_in(registry.client, "alice")
    with registry.app.test_request_context("/api/limits"):
        assert registry.app.session_interface.is_null_session(
            registry.app.session_interface.open_session(registry.app, request))
    answer = registry.client.get("/api/limits")
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert signed_in_as(registry.client) == "alice"  # the cookie still works for pages


def test_a_public_https_url_makes_cookies_secure(settings):
    app = create_app(Settings(**{**settings.__dict__, "public_url": "https://data.example.org"}))
    assert "Secure" in app.test_client().get("/login").headers["Set-Cookie"]
    app.extensions["registry"].engine.dispose()


def test_the_code_page_is_not_cached(registry):
    registry.create_user("alice", password=PASSWORD)
    sign_in(registry.client, "alice")
    page = registry.client.get("/login")
    assert 'id="login-code"' in text(page) and page.headers["Cache-Control"] == "no-store"


def test_sessions_slide_and_expire(registry):
    import datetime as dt

    from sqlalchemy import update

    registry.create_user("alice", password=PASSWORD)
    sign_in(registry.client, "alice")
    long_ago = dt.datetime(2000, 1, 1)
    with registry.state.session_factory() as session:
        session.execute(update(WebSession).values(last_seen_at=long_ago, created_at=long_ago))
        session.commit()
    assert signed_in_as(registry.client) == "alice"
    with registry.state.session_factory() as session:
        row = session.scalar(select(WebSession))
        assert row.last_seen_at > long_ago and row.expires_at > dt.datetime.now() + dt.timedelta(days=13)
        session.execute(update(WebSession).values(expires_at=dt.datetime.now() - dt.timedelta(days=1)))
        session.commit()
    assert signed_in_as(registry.client) is None
