"""`/api/users/*` (protocol.md 9.13): admins only, authenticate, authorise, then validate (14.10)."""

import datetime as dt
import re

import pytest
from sqlalchemy import event, select

from registry import Settings, create_app
from registry.models import Access, Event, LoginCode, Package, RefreshToken, User
from tests.helpers import TestRegistry

NOT_LOGGED_IN = {"message": "Not logged in", "code": "unauthorized", "status": 401}
NOT_ADMIN = {"message": "Must be authenticated as an admin to use this endpoint.", "code": "forbidden", "status": 403}
NOT_ENABLED = {"message": "This endpoint is not enabled.", "code": "bad_request", "status": 400}
UNKNOWN_FIELD = {"message": "Invalid request: bogus: Unknown field.", "code": "bad_request", "status": 400,
                 "errors": {"bogus": ["Unknown field."]}}
LIMIT_RANGE = "Must be greater than or equal to 1 and less than or equal to 10000."
TOKEN_INVALID = {"message": "Token invalid.", "code": "unauthorized", "status": 401}
PASSWORD_URL = re.compile(r"^http://localhost/password/[\w.-]+$")

# Each POST with a body that is invalid only because of an unknown key.
USER_POSTS = [(f"/api/users/{action}", {"username": "bob", "bogus": 1}) for action in
              ("disable", "enable", "grant_admin", "revoke_admin", "reset_password", "delete")]
USER_POSTS.append(("/api/users/create", {"username": "bob", "email": "bob@example.org", "bogus": 1}))
USER_GETS = ["/api/users/list", "/api/users/list_detailed"]
ADMIN_GETS = ["/api/admin/package_list/alice", "/api/admin/package_list/alice/", "/api/admin/package_summary",
              "/api/audit/alice/demo/", "/api/audit/alice/"]


def error(status: int, message: str, code: str) -> dict:
    return {"message": message, "code": code, "status": status}


def call(registry, method: str, path: str, token=None, body=None):
    response = registry.api(method, path, token=token, body=body)
    return response.status_code, response.get_json()


@pytest.fixture
def admin(registry):
    registry.create_user("root", admin=True)
    registry.create_user("alice")
    return registry.token("root")


def user(registry, name: str) -> User | None:
    with registry.state.session_factory() as session:
        return session.scalar(select(User).where(User.name == name))


def iso(value):
    return None if value is None else value.isoformat() + "+00:00"


@pytest.mark.parametrize("path,body", USER_POSTS)
def test_posts_authenticate_then_authorise_then_validate(registry, admin, path, body):
    assert call(registry, "POST", path, body=body) == (401, NOT_LOGGED_IN)
    assert call(registry, "POST", path, registry.token("alice"), body) == (403, NOT_ADMIN)
    assert call(registry, "POST", path, "forged", body) == (401, TOKEN_INVALID)
    assert call(registry, "POST", path, admin, body) == (400, UNKNOWN_FIELD)


@pytest.mark.parametrize("path", USER_GETS + ADMIN_GETS)
def test_gets_are_for_admins_only(registry, admin, path):
    assert call(registry, "GET", path) == (401, NOT_LOGGED_IN)
    assert call(registry, "GET", path, registry.token("alice")) == (403, NOT_ADMIN)
    assert call(registry, "GET", path, admin)[0] == 200


def test_disabled_user_endpoints_answer_400_only_to_admins(settings):
    assert not Settings.from_env({"REGISTRY_ENABLE_USER_ENDPOINTS": "false"}).enable_user_endpoints
    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "enable_user_endpoints": False})))
    closed.create_user("root", admin=True)
    closed.create_user("alice")
    root, alice = closed.token("root"), closed.token("alice")
    for path, body in USER_POSTS:
        assert call(closed, "POST", path, body=body) == (401, NOT_LOGGED_IN)
        assert call(closed, "POST", path, alice, body) == (403, NOT_ADMIN)
        assert call(closed, "POST", path, root, body) == (400, NOT_ENABLED)
    for path in USER_GETS:
        assert call(closed, "GET", path, root) == (400, NOT_ENABLED)
    # Audit and admin/* are not gated by the setting.
    for path in ADMIN_GETS:
        assert call(closed, "GET", path, root)[0] == 200
    closed.state.engine.dispose()


def test_list_users_sorted_by_name(registry, admin):
    registry.create_user("bob", active=False)
    with registry.state.session_factory() as session:
        session.get(User, user(registry, "alice").id).email = "alice@example.org"
        session.get(User, user(registry, "root").id).last_login = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
        session.commit()
    status, body = call(registry, "GET", "/api/users/list", admin)
    rows = {u.name: u for u in (user(registry, n) for n in ("alice", "bob", "root"))}
    assert (status, body) == (200, {"results": [
        {"username": "alice", "email": "alice@example.org", "date_joined": iso(rows["alice"].created_at),
         "last_login": None, "is_superuser": False, "is_active": True},
        {"username": "bob", "email": "", "date_joined": iso(rows["bob"].created_at), "last_login": None,
         "is_superuser": False, "is_active": False},
        {"username": "root", "email": "", "date_joined": iso(rows["root"].created_at),
         "last_login": "2024-05-06T07:08:09.123456+00:00", "is_superuser": True, "is_active": True}]})
    assert dt.datetime.fromisoformat(body["results"][0]["date_joined"]).tzinfo == dt.timezone.utc


def test_list_detailed_counts_with_grouped_queries(registry, admin):
    assert registry.push(registry.token("alice"), "alice", "demo", {"f": b"data"})[0].status_code == 200
    registry.create_user("bob", active=False)
    with registry.state.session_factory() as session:
        session.add_all([Event(user=u, type=t, package_owner="alice", package_name="demo")
                         for u, t in [("bob", "INSTALL"), ("bob", "INSTALL"), ("bob", "PREVIEW"),
                                      ("alice", "DELETE"), (None, "INSTALL")]])
        session.commit()
    queries = []
    event.listen(registry.state.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    status, body = call(registry, "GET", "/api/users/list_detailed", admin)
    counted = len(queries)
    last_login = user(registry, "root").last_login
    assert (status, body) == (200, {"users": {
        "alice": {"packages": 1, "installs": 0, "previews": 0, "pushes": 1, "deletes": 1, "status": "active",
                  "last_seen": None, "is_admin": False},
        "bob": {"packages": 0, "installs": 2, "previews": 1, "pushes": 0, "deletes": 0, "status": "disabled",
                "last_seen": None, "is_admin": False},
        "root": {"packages": 0, "installs": 0, "previews": 0, "pushes": 0, "deletes": 0, "status": "active",
                 "last_seen": iso(last_login), "is_admin": True}}})
    for name in ("carol", "dave", "erin"):
        registry.create_user(name)
    queries.clear()
    assert len(call(registry, "GET", "/api/users/list_detailed", admin)[1]["users"]) == 6
    assert len(queries) == counted  # no query per user


def test_create_answers_a_password_link_for_an_active_user_without_password(registry, admin):
    status, body = call(registry, "POST", "/api/users/create", admin, {"username": "bob", "email": "Bob@example.org"})
    assert status == 200 and list(body) == ["password_url"] and PASSWORD_URL.match(body["password_url"])
    bob = user(registry, "bob")
    assert (bob.email, bob.is_active, bob.is_admin, bob.password_hash) == ("Bob@example.org", True, False, None)


@pytest.mark.parametrize("body,status,message", [
    ({"username": "Bob", "email": "b@x"}, 400,
     "Username is not valid. Use 1-64 lowercase letters, digits and underscores, starting with a letter."),
    ({"username": "team", "email": "b@x"}, 400, "Invalid username. 'team' is reserved."),
    ({"username": "bob", "email": "not an email"}, 400, "Invalid email."),
    ({"username": "bob", "email": "bob@x\n"}, 400, "Invalid email."),
    ({"username": "alice", "email": "b@x"}, 409, "Username already taken."),
    ({"username": "bob", "email": "ALICE@example.org"}, 409, "Email already taken."),
])
def test_create_errors(registry, admin, body, status, message):
    with registry.state.session_factory() as session:
        session.get(User, user(registry, "alice").id).email = "alice@example.org"
        session.commit()
    code = "conflict" if status == 409 else "bad_request"
    assert call(registry, "POST", "/api/users/create", admin, body) == (status, error(status, message, code))
    assert user(registry, "bob") is None


def test_create_body_must_have_exactly_its_keys(registry, admin):
    assert call(registry, "POST", "/api/users/create", admin, {"username": "bob"}) == (400, {
        "message": "Invalid request: email: Missing data for required field.", "code": "bad_request", "status": 400,
        "errors": {"email": ["Missing data for required field."]}})
    assert call(registry, "POST", "/api/users/create", admin, {"username": 5, "email": "b@x"}) == (400, {
        "message": "Invalid request: username: Not a valid string.", "code": "bad_request", "status": 400,
        "errors": {"username": ["Not a valid string."]}})
    assert call(registry, "POST", "/api/users/create", admin, ["bob"]) == (400, {
        "message": "Invalid request: _schema: Invalid input type.", "code": "bad_request", "status": 400,
        "errors": {"_schema": ["Invalid input type."]}})


def sessions_of(registry, name: str) -> tuple[int, int]:
    """(live refresh tokens, login codes) of a user."""
    with registry.state.session_factory() as session:
        user_id = session.scalar(select(User.id).where(User.name == name))
        tokens = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id,
                                                            RefreshToken.revoked_at.is_(None))).all()
        return len(tokens), len(session.scalars(select(LoginCode).where(LoginCode.user_id == user_id)).all())


def test_reset_password_ends_sessions_and_answers_a_link(registry, admin):
    token = registry.token("alice")
    registry.login_code("alice")
    status, body = call(registry, "POST", "/api/users/reset_password", admin, {"username": "alice"})
    assert status == 200 and list(body) == ["password_url"] and PASSWORD_URL.match(body["password_url"])
    assert call(registry, "GET", "/api/package/alice/", token) == (401, TOKEN_INVALID)
    assert sessions_of(registry, "alice") == (0, 0)
    alice = user(registry, "alice")
    assert alice.password_hash.startswith("!") and alice.is_active
    assert call(registry, "POST", "/api/users/reset_password", admin, {"username": "nobody"}) == (
        404, error(404, "User not found.", "not_found"))


def test_disable_and_enable(registry, admin):
    token = registry.token("alice")
    registry.login_code("alice")
    assert call(registry, "POST", "/api/users/disable", admin, {"username": "alice"}) == (200, {})
    assert not user(registry, "alice").is_active
    assert sessions_of(registry, "alice") == (0, 0)
    assert call(registry, "GET", "/api/package/alice/", token) == (401, TOKEN_INVALID)
    assert call(registry, "POST", "/api/users/disable", admin, {"username": "root"}) == (
        403, error(403, "Can't disable yourself", "forbidden"))
    assert call(registry, "POST", "/api/users/disable", admin, {"username": "nobody"}) == (
        404, error(404, "User to disable not found", "not_found"))
    assert call(registry, "POST", "/api/users/enable", admin, {"username": "alice"}) == (200, {})
    assert user(registry, "alice").is_active
    assert call(registry, "GET", "/api/package/alice/", registry.token("alice")) == (200, {"packages": []})
    assert call(registry, "POST", "/api/users/enable", admin, {"username": "nobody"}) == (
        404, error(404, "User to enable not found", "not_found"))


def test_grant_and_revoke_admin(registry, admin):
    alice = registry.token("alice")
    assert call(registry, "POST", "/api/users/grant_admin", admin, {"username": "alice"}) == (200, {})
    assert call(registry, "GET", "/api/users/list", alice)[0] == 200
    assert call(registry, "POST", "/api/users/revoke_admin", alice, {"username": "root"}) == (200, {})
    assert call(registry, "GET", "/api/users/list", admin) == (403, NOT_ADMIN)
    assert call(registry, "POST", "/api/users/revoke_admin", alice, {"username": "alice"}) == (
        403, error(403, "Can't revoke yourself", "forbidden"))
    assert call(registry, "POST", "/api/users/grant_admin", alice, {"username": "nobody"}) == (
        404, error(404, "User to make an admin not found", "not_found"))
    assert call(registry, "POST", "/api/users/revoke_admin", alice, {"username": "nobody"}) == (
        404, error(404, "User to revoke admin from not found", "not_found"))
    assert (user(registry, "alice").is_admin, user(registry, "root").is_admin) == (True, False)


def test_delete_user(registry, admin):
    assert registry.push(registry.token("alice"), "alice", "demo", {"f": b"data"})[0].status_code == 200
    registry.create_user("bob")
    bob = registry.token("bob")
    with registry.state.session_factory() as session:
        package_id = session.scalar(select(Package.id))
        session.add(Access(package_id=package_id, principal="bob"))
        session.add(Event(user="bob", type="INSTALL", package_owner="alice", package_name="demo"))
        session.commit()
    assert call(registry, "POST", "/api/users/delete", admin, {"username": "alice"}) == (
        409, error(409, "User alice still owns packages; delete them first", "conflict"))
    assert call(registry, "POST", "/api/users/delete", admin, {"username": "root"}) == (
        403, error(403, "Can't delete yourself", "forbidden"))
    assert call(registry, "POST", "/api/users/delete", admin, {"username": "nobody"}) == (
        404, error(404, "User to delete not found", "not_found"))
    assert call(registry, "POST", "/api/users/delete", admin, {"username": "bob"}) == (200, {})
    assert user(registry, "bob") is None
    assert call(registry, "GET", "/api/package/alice/", bob) == (401, TOKEN_INVALID)
    with registry.state.session_factory() as session:
        assert session.scalars(select(Access.principal)).all() == ["alice"]
        assert session.scalar(select(Event.user).where(Event.type == "INSTALL")) == "bob"  # history stays
        assert set(session.scalars(select(RefreshToken.user_id))) == {user(registry, n).id for n in ("root", "alice")}
    assert [u["username"] for u in call(registry, "GET", "/api/users/list", admin)[1]["results"]] == ["alice", "root"]
