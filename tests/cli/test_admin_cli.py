"""`registry users|tokens|packages ...`: the same services as the API, as the operator."""

import json

import pytest

from tests.helpers import TestRegistry


@pytest.fixture
def world(settings):
    from registry import create_app

    registry = TestRegistry(create_app(settings))
    registry.create_user("alice")
    registry.create_user("bob")
    registry.push(registry.token("alice"), "alice", "demo", {"README": b"hi", "x": b"xx"}, is_public=True)
    registry.push(registry.token("alice"), "alice", "private", {"y": b"yyy"})
    yield registry
    registry.state.engine.dispose()


def test_users_list_show_and_json(run, world):
    table = run("users", "list").output.splitlines()
    assert table[0].split() == ["USERNAME", "EMAIL", "IS_SUPERUSER", "IS_ACTIVE", "DATE_JOINED", "LAST_LOGIN"]
    assert [line.split()[0] for line in table[1:]] == ["alice", "bob"]
    rows = json.loads(run("users", "list", "--json").output)
    assert [(r["username"], r["is_superuser"], r["is_active"]) for r in rows] == [("alice", False, True), ("bob", False, True)]
    detail = json.loads(run("users", "show", "alice", "--json").output)
    assert (detail["username"], detail["packages"], detail["pushes"], detail["status"]) == ("alice", 2, 2, "active")
    assert ["packages", "2"] in [line.split() for line in run("users", "show", "alice").output.splitlines()]
    missing = run("users", "show", "nobody")
    assert (missing.exit_code, missing.output) == (1, "Error: User nobody does not exist\n")


def test_user_state_changes(run, world):
    token = world.token("bob")
    assert run("users", "disable", "bob", input="n\n").exit_code == 1  # declined
    assert world.api("GET", "/api/profile", token=token).status_code == 200
    assert run("users", "disable", "bob", "--yes").output == "Disabled bob; their sessions are revoked.\n"
    assert world.api("GET", "/api/profile", token=token).status_code == 401
    assert run("users", "enable", "bob").output == "Enabled bob.\n"
    assert run("users", "set-admin", "bob").output == "bob is now an administrator.\n"
    assert world.api("GET", "/api/users/list", token=world.token("bob")).status_code == 200
    assert run("users", "unset-admin", "bob").output == "bob is no longer an administrator.\n"
    assert world.api("GET", "/api/users/list", token=world.token("bob")).status_code == 403
    unknown = run("users", "enable", "nobody")
    assert (unknown.exit_code, unknown.output) == (1, "Error: User to enable not found\n")


def test_reset_password_prints_a_working_link(run, world):
    token = world.token("bob")
    result = run("users", "reset-password", "bob", "--yes", public_url="https://data.example.org")
    assert result.exit_code == 0
    link = result.output.splitlines()[-1]
    assert link.startswith("https://data.example.org/password/")
    assert world.api("GET", "/api/profile", token=token).status_code == 401
    page = world.client.get(link.replace("https://data.example.org", ""))
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)


def test_delete_user(run, world):
    owner = run("users", "delete", "alice", "--yes")
    assert (owner.exit_code, owner.output) == (1, "Error: User alice still owns packages; delete them first\n")
    assert run("users", "delete", "bob", input="y\n").output.endswith("Deleted bob.\n")
    assert [r["username"] for r in json.loads(run("users", "list", "--json").output)] == ["alice"]


def test_tokens_list_and_revoke(run, world):
    token = world.token("bob")
    rows = json.loads(run("tokens", "list", "--user", "bob", "--json").output)
    assert len(rows) == 1 and (rows[0]["user"], rows[0]["state"]) == ("bob", "active")
    assert run("tokens", "revoke", str(rows[0]["id"])).output == f"Revoked token {rows[0]['id']}.\n"
    assert world.api("GET", "/api/profile", token=token).status_code == 401
    assert json.loads(run("tokens", "list", "--user", "bob", "--json").output)[0]["state"] == "revoked"
    again = run("tokens", "revoke", str(rows[0]["id"]))
    assert (again.exit_code, again.output) == (1, f"Error: No active token with id {rows[0]['id']}\n")
    assert "alice" in run("tokens", "list").output


def test_packages_list_show_access_delete(run, world):
    listed = json.loads(run("packages", "list", "--json").output)
    assert [(p["owner"], p["name"], p["is_public"], p["instances"]) for p in listed] == [
        ("alice", "demo", True, 1), ("alice", "private", False, 1)]
    assert run("packages", "list", "bob").output == "(none)\n"
    shown = json.loads(run("packages", "show", "alice/private", "--json").output)
    assert (shown["access"], shown["pushes"], shown["bytes"], [t["tag"] for t in shown["tags"]]) == (
        ["alice"], 1, 3, ["latest"])
    assert ["access", "alice"] in [line.split() for line in run("packages", "show", "alice/private").output.splitlines()]
    assert run("packages", "access", "alice/demo").output.split() == ["PRINCIPAL", "alice", "public"]
    bad = run("packages", "show", "nonsense")
    assert bad.exit_code == 2 and "expected OWNER/NAME" in bad.output
    missing = run("packages", "show", "alice/nothing")
    assert (missing.exit_code, missing.output) == (1, "Error: Package alice/nothing does not exist\n")
    assert run("packages", "delete", "alice/demo", input="n\n").exit_code == 1
    deleted = run("packages", "delete", "alice/demo", "--yes")
    assert deleted.output == "Deleted alice/demo. Run `registry gc` later to free its storage.\n"
    audit = world.api("GET", "/api/audit/alice/demo/", token=_admin_token(world)).get_json()["events"]
    assert (audit[-1]["type"], audit[-1]["user"]) == ("DELETE", "operator")


def _admin_token(registry) -> str:
    registry.create_user("root", admin=True)
    return registry.token("root")
