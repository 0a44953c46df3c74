"""Sign-in page, one-time codes, POST /api/token, bearer tokens, logout (protocol.md 6, 9.1)."""

import datetime as dt
import re

from sqlalchemy import select, update

from registry.models import LoginCode, RefreshToken, User


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


PASSWORD = "correct horse"


def sign_in(registry, name="alice", password=PASSWORD):
    form = registry.client.get("/login")
    return registry.client.post("/login", data={"username": name, "password": password, "csrf_token": csrf(form)})


def shown_code(page) -> str:
    return re.search(r'<output id="login-code"[^>]*>([^<]+)</output>', page.get_data(as_text=True)).group(1)


def exchange(registry, secret: str):
    return registry.client.post("/api/token", data={"refresh_token": secret})


def test_sign_in_shows_a_code_that_the_client_exchanges_for_tokens(registry):
    registry.create_user("alice", password=PASSWORD)
    page = registry.client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    signed_in = sign_in(registry)
    assert signed_in.status_code == 302
    code_page = registry.client.get("/login")
    assert "Your login code" in code_page.get_data(as_text=True)
    response = exchange(registry, shown_code(code_page))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"refresh_token", "access_token", "expires_at"}
    assert isinstance(body["expires_at"], int) and body["expires_at"] > dt.datetime.now().timestamp()
    me = registry.api("GET", "/api/package/alice/", token=body["access_token"])
    assert me.status_code == 200
    with registry.state.session_factory() as session:
        assert session.scalar(select(User.last_login).where(User.name == "alice")) is not None
        # Only hashes are stored.
        assert body["refresh_token"] not in {r.token_hash for r in session.scalars(select(RefreshToken))}


def test_wrong_password_and_missing_csrf(registry):
    registry.create_user("alice", password=PASSWORD)
    wrong = sign_in(registry, password="nope nope")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.get_data(as_text=True)
    unknown = sign_in(registry, name="nobody")
    assert unknown.status_code == 401 and "Wrong user name or password." in unknown.get_data(as_text=True)
    forged = registry.client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert forged.status_code == 400
    assert registry.client.get("/login").get_data(as_text=True).count("login-code") == 0


def test_codes_are_safe_to_pass_on_a_command_line(registry):
    registry.create_user("alice")
    codes = [registry.login_code("alice") for _ in range(50)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", code) for code in codes)
    assert len(set(codes)) == 50


def test_codes_work_once_and_expire(registry):
    registry.create_user("alice", password=PASSWORD)
    code = registry.login_code("alice")
    assert exchange(registry, code).status_code == 200
    again = exchange(registry, code)
    assert (again.status_code, again.get_json()["message"]) == (401, "Token invalid.")
    stale = registry.login_code("alice")
    with registry.state.session_factory() as session:
        session.execute(update(LoginCode).values(expires_at=dt.datetime(2000, 1, 1)))
        session.commit()
    expired = exchange(registry, stale)
    assert (expired.status_code, expired.get_json()["message"]) == (401, "Code invalid")


def test_refresh_tokens_rotate(registry):
    registry.create_user("alice", password=PASSWORD)
    first = exchange(registry, registry.login_code("alice")).get_json()
    second = exchange(registry, first["refresh_token"])
    assert second.status_code == 200
    assert second.get_json()["refresh_token"] != first["refresh_token"]
    # The access token of a rotated-away refresh token stops working; its successor's works.
    assert registry.api("GET", "/api/package/alice/", token=first["access_token"]).status_code == 401
    assert registry.api("GET", "/api/package/alice/", token=second.get_json()["access_token"]).status_code == 200
    # Replaying the rotated-away token (tests/api/test_auth_hardening.py: reuse detection) ends the family.
    reused = exchange(registry, first["refresh_token"])
    assert (reused.status_code, reused.get_json()["message"]) == (401, "Token invalid.")
    assert registry.api("GET", "/api/package/alice/", token=second.get_json()["access_token"]).status_code == 401


def test_token_endpoint_errors_are_json(registry):
    missing = registry.client.post("/api/token", data={})
    assert (missing.status_code, missing.get_json()["message"]) == (400, "Missing refresh_token")
    bogus = exchange(registry, "bogus")
    assert (bogus.status_code, bogus.get_json()["message"]) == (401, "Token invalid.")


def test_bearer_token_variants_and_failures(registry):
    registry.create_user("alice", password=PASSWORD)
    token = registry.token("alice")
    assert registry.client.get("/api/package/alice/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert registry.client.get("/api/package/alice/", headers={"Authorization": token}).status_code == 200
    invalid = registry.client.get("/api/package/alice/", headers={"Authorization": "Bearer " + token[:-2]})
    assert (invalid.status_code, invalid.get_json()["message"]) == (401, "Token invalid.")


def test_inactive_users_are_refused(registry):
    registry.create_user("alice", password=PASSWORD)
    token = registry.token("alice")
    with registry.state.session_factory() as session:
        session.execute(update(User).values(is_active=False))
        session.commit()
    response = registry.api("GET", "/api/package/alice/", token=token)
    assert (response.status_code, response.get_json()["message"]) == (
        403, "Account is inactive. Must have an active account.")
    assert sign_in(registry).status_code == 401


def test_api_logout_revokes_the_session(registry):
    registry.create_user("alice", password=PASSWORD)
    pair = exchange(registry, registry.login_code("alice")).get_json()
    assert registry.api("POST", "/api/logout", token=pair["access_token"]).get_json() == {}
    assert registry.api("GET", "/api/package/alice/", token=pair["access_token"]).status_code == 401
    assert exchange(registry, pair["refresh_token"]).status_code == 401
    assert registry.api("POST", "/api/logout").status_code == 401


def test_web_sign_out(registry):
    registry.create_user("alice", password=PASSWORD)
    sign_in(registry)
    page = registry.client.get("/login")
    out = registry.client.post("/logout", data={"csrf_token": csrf(page)})
    assert out.status_code == 302
    assert 'name="password"' in registry.client.get("/login").get_data(as_text=True)


def test_passwords_are_hashed_with_scrypt(registry):
    registry.create_user("alice", password=PASSWORD)
    with registry.state.session_factory() as session:
        assert session.scalar(select(User.password_hash)).startswith("scrypt:")


def test_closed_deployments_refuse_anonymous_calls_but_not_token_exchange(settings):
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_anonymous_access": False})))
    closed.create_user("alice", password=PASSWORD)
    anonymous = closed.api("GET", "/api/package/alice/")
    assert (anonymous.status_code, anonymous.get_json()["message"]) == (401, "Not logged in")
    assert exchange(closed, closed.login_code("alice")).status_code == 200
    closed.state.engine.dispose()


def test_unknown_routes_and_methods_answer_json(registry):
    missing = registry.client.get("/api/nothing/here")
    assert missing.status_code == 404 and missing.get_json()["message"]
    wrong_method = registry.client.delete("/api/get_objects")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["message"]
    page = registry.client.get("/nothing/here")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_health_and_robots(registry):
    health = registry.client.get("/healthcheck")
    assert (health.status_code, health.mimetype) == (200, "application/json")
    assert health.get_json() == {"status": "ok", "database": "ok", "storage": "ok"}
    assert registry.client.get("/robots.txt").get_data() == b"User-agent: *\nDisallow: /\n"


def test_healthcheck_fails_when_storage_does_not_answer(settings, tmp_path):
    from registry import Settings, create_app

    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    app = create_app(Settings(**{**settings.__dict__, "data_dir": blocked}))
    response = app.test_client().get("/healthcheck")
    assert response.status_code == 503 and response.headers["Retry-After"]
    report = response.get_json()
    assert (report["status"], report["database"]) == ("unavailable", "ok")
    assert report["storage"] == "down: NotADirectoryError (20)"  # kinds only: the page is public, paths are not
    app.extensions["registry"].engine.dispose()


def test_cors_headers_on_api_only(registry):
    api = registry.client.get("/api/package/alice/", headers={"Origin": "https://example.org"})
    assert api.headers["Access-Control-Allow-Origin"] == "https://example.org"
    page = registry.client.get("/login", headers={"Origin": "https://example.org"})
    assert "Access-Control-Allow-Origin" not in page.headers
