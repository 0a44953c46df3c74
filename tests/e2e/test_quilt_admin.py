"""Administration with the published quilt 2.9.15 client, through a team login that points at
the live registry: `user list/create/disable/enable/reset-password/delete`, `audit` of a package
and of a user, `quilt.list_users_detailed` and `quilt.list_packages` (both databases, local
blob store only: storage plays no part here)."""

from __future__ import annotations

import pytest

from tests.e2e.commands import (
    FILES,
    TEAM,
    audit,
    error_of,
    install,
    ok,
    publish,
    python_json,
    user_list,
    write_tree,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("storage_settings", ["local"], indirect=True)
def test_administration_through_a_team_login(machines, tmp_path):
    # Something to audit: alice pushes a team package, bob installs it.
    alice, bob = machines.signed_in("alice"), machines.signed_in("bob")
    demo = publish(alice, "alice/demo", write_tree(tmp_path / "source", FILES), "--team")
    assert install(bob, "alice/demo") == demo

    # `quilt audit` and the admin commands need a team login: team acme is this registry.
    member = machines.team_member("alice")
    assert error_of(member, "user", "list", TEAM) == "Must be authenticated as an admin to use this endpoint."
    admin = machines.team_member("admin")
    package = f"{TEAM}:alice/demo"
    assert audit(admin, "alice/demo") == [("alice", package, "PUSH"), ("bob", package, "INSTALL")]
    assert audit(admin, "alice") == [("alice", package, "PUSH")]

    detailed = python_json(admin, f"quilt.list_users_detailed({TEAM!r})")["users"]
    counts = ("packages", "pushes", "installs", "deletes", "status", "is_admin")
    assert {user: {key: detailed[user][key] for key in counts} for user in detailed} == {
        "admin": {"packages": 0, "pushes": 0, "installs": 0, "deletes": 0, "status": "active", "is_admin": True},
        "alice": {"packages": 1, "pushes": 1, "installs": 0, "deletes": 0, "status": "active", "is_admin": False},
        "bob": {"packages": 0, "pushes": 0, "installs": 1, "deletes": 0, "status": "active", "is_admin": False},
    }
    listed = python_json(admin, f"quilt.list_packages('alice', {TEAM!r})")
    assert listed["packages"] == [{"name": "demo", "is_public": False, "is_team": True}]

    # The user commands print nothing on success.
    assert user_list(admin) == {"admin": ("admin@example.com", "True", "True"),
                                "alice": ("alice@example.com", "True", "False"),
                                "bob": ("", "True", "False")}
    assert ok(admin, "user", "create", TEAM, "carol", "carol@example.com") == []
    assert ok(admin, "user", "create", TEAM, "dave", "dave@example.com") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "True", "False")
    assert ok(admin, "user", "disable", TEAM, "carol") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "False", "False")
    assert ok(admin, "user", "enable", TEAM, "carol") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "True", "False")
    assert ok(admin, "user", "reset-password", TEAM, "carol") == []
    assert admin.run("user", "delete", TEAM, "carol", input="y\n").stdout == "Really delete user 'carol'? (y/n)"
    assert ok(admin, "user", "delete", TEAM, "dave", "-f") == []
    assert set(user_list(admin)) == {"admin", "alice", "bob"}
