"""Log, tags and versions (protocol.md 9.7-9.9), exact status and JSON."""

import pytest

V1 = {"a": b"one"}
V2 = {"a": b"two"}


@pytest.fixture
def two_pushes(registry):
    registry.create_user("alice")
    registry.create_user("bob")
    token = registry.token("alice")
    _, first = registry.push(token, "alice", "demo", V1, message="first version")
    _, second = registry.push(token, "alice", "demo", V2)
    return registry, token, first, second


def test_log_lists_every_push_oldest_first(two_pushes):
    registry, token, first, second = two_pushes
    registry.api("PUT", "/api/version/alice/demo/1.0", token=token, body={"hash": first})
    logs = registry.api("GET", "/api/log/alice/demo/", token=token).get_json()["logs"]
    assert [(e["hash"], e["author"], e["message"], e["tags"], e["versions"]) for e in logs] == [
        (first, "alice", "first version", None, ["1.0"]),
        (second, "alice", None, ["latest"], None)]
    assert logs[0]["created"] <= logs[1]["created"] and isinstance(logs[0]["created"], float)


def test_log_author_is_the_pusher_not_the_owner(registry):
    registry.create_user("alice")
    registry.create_user("bob")
    registry.push(registry.token("alice"), "alice", "team", V1, is_team=True)
    registry.push(registry.token("bob"), "alice", "team", V2)
    logs = registry.api("GET", "/api/log/alice/team/", token=registry.token("bob")).get_json()["logs"]
    assert [e["author"] for e in logs] == ["alice", "bob"]


def test_tags_create_move_list_get_delete(two_pushes):
    registry, token, first, second = two_pushes
    assert registry.api("PUT", "/api/tag/alice/demo/stable", token=token, body={"hash": first}).get_json() == {}
    listed = registry.api("GET", "/api/tag/alice/demo/", token=token).get_json()
    assert listed == {"tags": [{"tag": "latest", "hash": second}, {"tag": "stable", "hash": first}]}
    one = registry.api("GET", "/api/tag/alice/demo/stable", token=token).get_json()
    assert (one["hash"], one["created_by"], one["is_public"], one["is_team"]) == (first, "alice", False, False)
    assert set(one) == {"hash", "created_by", "created_at", "updated_by", "updated_at", "is_public", "is_team"}
    registry.api("PUT", "/api/tag/alice/demo/stable", token=token, body={"hash": second})
    assert registry.api("GET", "/api/tag/alice/demo/stable", token=token).get_json()["hash"] == second
    assert registry.api("DELETE", "/api/tag/alice/demo/stable", token=token).get_json() == {}
    gone = registry.api("GET", "/api/tag/alice/demo/stable", token=token)
    assert (gone.status_code, gone.get_json()["message"]) == (404, "Tag 'stable' does not exist")
    again = registry.api("DELETE", "/api/tag/alice/demo/stable", token=token)
    assert (again.status_code, again.get_json()["message"]) == (404, "Package alice/demo tag 'stable' does not exist")


def test_tag_put_with_expected_hash_detects_a_concurrent_move(two_pushes):
    registry, token, first, second = two_pushes
    ok = registry.api("PUT", "/api/tag/alice/demo/latest", token=token, body={"hash": first, "expected_hash": second})
    assert ok.status_code == 200
    stale = registry.api("PUT", "/api/tag/alice/demo/latest", token=token, body={"hash": second, "expected_hash": second})
    assert stale.status_code == 409
    assert stale.get_json()["message"] == (f"Tag 'latest' points to {first}, not {second}: it was moved by someone else")
    new = registry.api("PUT", "/api/tag/alice/demo/fresh", token=token, body={"hash": first, "expected_hash": None})
    assert new.status_code == 200
    taken = registry.api("PUT", "/api/tag/alice/demo/fresh", token=token, body={"hash": first, "expected_hash": None})
    assert taken.status_code == 409


def test_tag_errors(two_pushes):
    registry, token, first, _ = two_pushes

    def put(path, body, token=token):
        response = registry.api("PUT", path, token=token, body=body)
        return response.status_code, response.get_json()["message"]

    assert put("/api/tag/alice/demo/x", {"hash": first}, token=None) == (401, "Not logged in")
    assert put("/api/tag/alice/demo/x", {}, token=token)[0] == 400
    assert put("/api/tag/alice/demo/x", {"hash": "f" * 64}) == (404, "Package hash does not exist")
    assert put("/api/tag/alice/demo/" + "t" * 65, {"hash": first}) == (400, "Tag names are at most 64 characters")
    # bob cannot see the private package: a 404, the same as for a missing package.
    assert put("/api/tag/alice/demo/x", {"hash": first}, token=registry.token("bob")) == (
        404, "Package alice/demo does not exist")
    registry.api("PUT", "/api/access/alice/demo/bob", token=token)
    assert put("/api/tag/alice/demo/x", {"hash": first}, token=registry.token("bob")) == (
        403, "Private package: only the package owner can modify tags")
    delete = registry.api("DELETE", "/api/tag/alice/demo/latest", token=registry.token("bob"))
    assert (delete.status_code, delete.get_json()["message"]) == (403, "Only the package owner can delete tags")


def test_versions(two_pushes):
    registry, token, first, second = two_pushes
    for version, hash_ in (("2.0pre1", second), ("1.0", first), ("  10.1\t", second), ("1.0.0", first)):
        response = registry.api("PUT", f"/api/version/alice/demo/{version}", token=token, body={"hash": hash_})
        assert response.status_code == 200, version
    listed = registry.api("GET", "/api/version/alice/demo/", token=token).get_json()
    assert listed == {"versions": [{"version": "1.0", "hash": first}, {"version": "1.0.0", "hash": first},
                                   {"version": "2.0pre1", "hash": second}, {"version": "10.1", "hash": second}]}
    found = registry.api("GET", "/api/version/alice/demo/2.0rc1", token=token).get_json()
    assert (found["hash"], found["created_by"]) == (second, "alice")
    assert registry.api("GET", "/api/version/alice/demo/%20%2010.1%09", token=token).get_json()["hash"] == second

    def status(method, path, body=None, token=token):
        response = registry.api(method, path, token=token, body=body)
        return response.status_code, response.get_json()["message"]

    assert status("PUT", "/api/version/alice/demo/1.0", {"hash": second}) == (409, "Version already exists")
    assert status("PUT", "/api/version/alice/demo/v1.0", {"hash": first}) == (409, "Version already exists")
    assert status("PUT", "/api/version/alice/demo/foo", {"hash": first}) == (400, "Malformed version")
    assert status("GET", "/api/version/alice/demo/1x") == (400, "Malformed version")
    assert status("GET", "/api/version/alice/demo/3") == (404, "Version 3 does not exist")
    assert status("PUT", "/api/version/alice/demo/3", {"hash": "e" * 64}) == (404, "Package hash does not exist")
    assert status("DELETE", "/api/version/alice/demo/1.0")[0] == 405
    registry.api("PUT", "/api/access/alice/demo/bob", token=token)
    assert status("PUT", "/api/version/alice/demo/4", {"hash": first}, token=registry.token("bob")) == (
        403, "Only the package owner can create versions")
