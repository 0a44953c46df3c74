"""Sharing, friendly errors and tokens against a live registry (both databases, both stores)."""

from __future__ import annotations

import json
import stat

import pytest
import requests

from registry_client import (Package, add_access, delete_package, list_access, list_packages, log, login,
                             logout, remove_access)
from registry_client.errors import AuthenticationError, Forbidden, NotFound, PathNotFound, UsageError
from tests.client.conftest import sha256


def test_sharing_errors_and_credentials(machine, live, tmp_path):
    # One live registry for both parts: starting one costs more than either part.
    sharing_and_friendly_errors(machine, tmp_path)
    credentials_rotation_and_expired_login(machine, live)


def sharing_and_friendly_errors(machine, tmp_path):
    alice, bob = machine("alice", "alice"), machine("bob", "bob")
    anonymous = machine("anonymous")
    Package().set("notes.txt", b"hello").push("alice/private", alice.registry, client=alice.client)

    # Private: invisible to others, with a hint that fits who is asking.
    with pytest.raises(NotFound) as missing:
        Package.browse("alice/private", anonymous.registry, client=anonymous.client)
    assert "does not exist" in missing.value.message and "sign in first" in missing.value.hint
    with pytest.raises(NotFound) as hidden:
        Package.browse("alice/private", bob.registry, client=bob.client)
    assert "ask its owner to share it" in hidden.value.hint

    add_access("alice/private", "bob", alice.registry, client=alice.client)
    assert list_access("alice/private", alice.registry, client=alice.client) == ["alice", "bob"]
    assert Package.browse("alice/private", bob.registry, client=bob.client)["notes.txt"].get_bytes() == b"hello"
    with pytest.raises(Forbidden) as refused:  # a reader may not push
        Package().set("x.txt", b"x").push("alice/private", bob.registry, client=bob.client)
    assert "owner" in refused.value.message and "share it with the team" in refused.value.hint
    with pytest.raises(NotFound) as elsewhere:  # the registry hides whose namespace it is
        Package().set("x.txt", b"x").push("alice/bobs_idea", bob.registry, client=bob.client)
    assert "Cannot push to alice/bobs_idea" in elsewhere.value.message and "own user name" in elsewhere.value.hint
    with pytest.raises(AuthenticationError, match="signed in"):
        Package().set("x.txt", b"x").push("alice/anon", anonymous.registry, client=anonymous.client)
    # A reader can publish a copy under their own name: fragments storage lacks for bob are
    # downloaded from alice's package first, then uploaded.
    desk = machine("bob-desk", "bob")
    shared = Package.browse("alice/private", desk.registry, client=desk.client)
    shared.set("mine.txt", b"bob's addition")
    copy = shared.push("bob/copy", desk.registry, message="A copy", client=desk.client)
    assert [r.method for r in desk.blob_requests if sha256(b"hello") in r.url] == ["GET", "PUT"]
    again = Package.browse("bob/copy", bob.registry, top_hash=copy, client=machine("bob2", "bob").client)
    assert {k: e.get_bytes() for k, e in again.walk()} == {"mine.txt": b"bob's addition", "notes.txt": b"hello"}
    remove_access("alice/private", "bob", alice.registry, client=alice.client)
    with pytest.raises(NotFound):
        log("alice/private", bob.registry, client=bob.client)

    # Mistakes caught before any request.
    with pytest.raises(UsageError, match="not a package name"):
        Package.browse("Alice/bad-name", alice.registry, client=alice.client)
    with pytest.raises(PathNotFound, match="No file at"):
        Package().set("data.csv", tmp_path / "missing.csv")
    with pytest.raises(PathNotFound, match="No folder at"):
        Package().set_dir("data", tmp_path / "missing")
    with pytest.raises(UsageError, match="No registry given"):
        Package.browse("alice/private", client=bob.client)
    with pytest.raises(UsageError, match="Invalid metadata"):
        Package().set("a.txt", b"a", meta={"_system": 1})
    with pytest.raises(UsageError, match="is a file"):
        Package().set("a", b"a").set("a/b", b"b")
    with pytest.raises(NotFound, match="tag 'nope'|Tag 'nope'"):
        Package.browse("alice/private", alice.registry, tag="nope", client=alice.client)

    delete_package("alice/private", alice.registry, client=alice.client)
    assert list_packages(alice.registry, client=alice.client) == []
    with pytest.raises(NotFound):
        Package.browse("alice/private", alice.registry, client=alice.client)


def credentials_rotation_and_expired_login(machine, live):
    alice = machine("alice-laptop", "alice")
    settings = alice.client.settings
    assert stat.S_IMODE(settings.credentials_file.stat().st_mode) == 0o600
    Package().set("a.txt", b"a").push("alice/tokens", alice.registry, client=alice.client)

    # An access token about to expire is renewed before the next request; the refresh token rotates.
    stored = json.loads(settings.credentials_file.read_text())
    old = stored[alice.registry]
    stored[alice.registry]["expires_at"] = 0
    settings.credentials_file.write_text(json.dumps(stored))
    assert len(log("alice/tokens", alice.registry, client=alice.client)) == 1
    new = json.loads(settings.credentials_file.read_text())[alice.registry]
    assert new["refresh_token"] != old["refresh_token"] and new["expires_at"] > 0
    assert stat.S_IMODE(settings.credentials_file.stat().st_mode) == 0o600
    reused = requests.post(f"{live.url}/api/token", data={"refresh_token": old["refresh_token"]}, timeout=10)
    assert reused.status_code == 401  # each refresh token works once

    # A login that can no longer be renewed says so, and how to sign in again.
    settings.save_credentials(alice.registry, {**old, "expires_at": 0})
    with pytest.raises(AuthenticationError) as expired:
        log("alice/tokens", alice.registry, client=alice.client)
    assert "expired or was revoked" in expired.value.message
    assert f"registry-client login {alice.registry}" in expired.value.hint

    with pytest.raises(AuthenticationError, match="did not accept that login code"):
        login(alice.registry, "not-a-code", client=alice.client)
    alice.login("alice")
    assert logout(alice.registry, client=alice.client) is True
    assert settings.credentials(alice.registry) is None
    with pytest.raises(NotFound, match="log in"):
        log("alice/tokens", alice.registry, client=alice.client)
