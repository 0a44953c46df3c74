"""Access lists, deletion and subpackage pushes (protocol.md 9.3, 9.6, 9.10)."""

import json

from sqlalchemy import func, select

from registry.models import Blob, Event, Instance, InstanceChunk
from tests.helpers import build_tree, sha256


def users(registry, *names):
    for name in names:
        registry.create_user(name)
    return [registry.token(name) for name in names]


def call(registry, method, path, token=None, body=None):
    response = registry.api(method, path, token=token, body=body)
    return response.status_code, response.get_json()


def test_grant_list_revoke(registry):
    alice, bob = users(registry, "alice", "bob")
    registry.push(alice, "alice", "demo", {"a": b"a"})
    assert call(registry, "GET", "/api/package/alice/demo/", bob)[0] == 404
    assert call(registry, "PUT", "/api/access/alice/demo/bob", alice) == (200, {})
    assert call(registry, "GET", "/api/access/alice/demo/", bob) == (200, {"users": ["alice", "bob"]})
    assert call(registry, "GET", "/api/access/alice/demo/bob", alice) == (200, {})
    assert call(registry, "GET", "/api/package/alice/demo/", bob)[0] == 200
    assert call(registry, "PUT", "/api/access/alice/demo/bob", alice) == (
        409, {"message": "The user already has access", "code": "conflict", "status": 409})
    assert call(registry, "DELETE", "/api/access/alice/demo/bob", alice) == (200, {})
    assert call(registry, "GET", "/api/package/alice/demo/", bob)[0] == 404


def test_access_errors(registry):
    alice, bob = users(registry, "alice", "bob")
    registry.push(alice, "alice", "demo", {"a": b"a"})

    def message(method, path, token=alice):
        status, body = call(registry, method, path, token)
        return status, body["message"]

    assert message("GET", "/api/access/alice/demo/", None) == (401, "Not logged in")
    assert message("PUT", "/api/access/alice/demo/nobody") == (404, "User nobody does not exist")
    assert message("PUT", "/api/access/alice/demo/Bad-Name")[0] == 400
    assert message("DELETE", "/api/access/alice/demo/alice") == (403, "Cannot revoke the owner's access")
    assert message("DELETE", "/api/access/alice/demo/bob") == (404, "User bob does not have access to alice/demo")
    assert message("PUT", "/api/access/alice/demo/bob", bob) == (404, "Package alice/demo does not exist")
    registry.api("PUT", "/api/access/alice/demo/public", token=alice)
    assert message("PUT", "/api/access/alice/demo/bob", bob) == (403, "Only the package owner can grant access")
    assert message("DELETE", "/api/access/alice/demo/public", bob) == (403, "Only the package owner can revoke access")


def test_public_and_team_grants_follow_the_deployment_flags(settings):
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_anonymous_access": False,
                                                 "allow_team_access": False})))
    (alice,) = users(closed, "alice")
    closed.push(alice, "alice", "demo", {"a": b"a"})
    assert call(closed, "PUT", "/api/access/alice/demo/public", alice)[1]["message"] == "Public access not allowed"
    assert call(closed, "PUT", "/api/access/alice/demo/team", alice)[1]["message"] == "Team access not allowed"
    closed.state.engine.dispose()


def test_delete_package_and_push_again_from_scratch(registry):
    alice, bob = users(registry, "alice", "bob")
    _, first = registry.push(alice, "alice", "demo", {"a": b"a"}, is_public=True)
    registry.api("PUT", "/api/version/alice/demo/1", token=alice, body={"hash": first})
    assert call(registry, "DELETE", "/api/package/alice/demo/", bob)[1]["message"] == (
        "Only the package owner can delete packages.")
    assert call(registry, "DELETE", "/api/package/alice/demo/", alice) == (200, {})
    assert call(registry, "DELETE", "/api/package/alice/demo/", alice)[0] == 404
    assert call(registry, "GET", f"/api/package/alice/demo/{first}", alice)[0] == 404
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0
        assert session.scalar(select(func.count()).select_from(InstanceChunk)) == 0
        assert session.scalar(select(func.count()).select_from(Blob)) == 1, "blob rows stay for GC"
        assert session.scalar(select(Event.user).where(Event.type == "DELETE")) == "alice"
    assert registry.push(alice, "alice", "demo", {"b": b"b"})[0].status_code == 200
    assert call(registry, "GET", "/api/version/alice/demo/", alice) == (200, {"versions": []})
    assert len(call(registry, "GET", "/api/log/alice/demo/", alice)[1]["logs"]) == 1
    assert call(registry, "GET", "/api/access/alice/demo/", alice) == (200, {"users": ["alice"]})


def _update(registry, token, path, files, dry_run):
    contents, blobs = build_tree(files)
    node = contents["children"][next(iter(contents["children"]))]
    body = {"dry_run": dry_run, "description": "", "contents": node,
            "sizes": {} if dry_run else {h: len(b) for h, b in blobs.items()}}
    return registry.api("POST", f"/api/package_update/alice/demo/{path}", token=token, body=body, compress=True), blobs


def test_subpackage_push_merges_into_latest(registry):
    (alice,) = users(registry, "alice")
    registry.push(alice, "alice", "demo", {"keep/x": b"keep", "replace/y": b"old"})
    dry, blobs = _update(registry, alice, "replace/y", {"y": b"new"}, dry_run=True)
    assert set(dry.get_json()["upload_urls"]) == {sha256(b"new")}
    for digest, urls in dry.get_json()["upload_urls"].items():
        assert registry.transfer("PUT", urls["put"], data=blobs[digest])[0] == 200
    real, _ = _update(registry, alice, "replace/y", {"y": b"new"}, dry_run=False)
    assert real.status_code == 200
    merged, _ = build_tree({"keep/x": b"keep", "replace/y": b"new"})
    merged["children"]["replace"]["children"]["y"]["metadata"]["q_path"] = "y"  # as the subtree was built
    assert real.get_json() == {"package_url": "http://localhost/package/alice/demo",
                               "package_hash": registry.tophash(merged)}
    latest = call(registry, "GET", "/api/tag/alice/demo/latest", alice)[1]["hash"]
    assert latest == registry.tophash(merged)
    installed = call(registry, "GET", f"/api/package/alice/demo/{latest}", alice)[1]
    assert installed["contents"] == merged
    # Every fragment of the merged tree is linked to it, and the replaced one is not.
    assert installed["sizes"] == {sha256(b"keep"): 4, sha256(b"new"): 3}


def test_subpackage_push_errors(registry):
    (alice,) = users(registry, "alice")
    registry.push(alice, "alice", "demo", {"file": b"x"})
    response, _ = _update(registry, alice, "file/below", {"below": b"y"}, dry_run=True)
    assert (response.status_code, response.get_json()["message"]) == (404, "Target subpath is not a group node: 'file'")
    contents, _ = build_tree({"a": b"a"})
    root = registry.api("POST", "/api/package_update/alice/demo/x", token=alice,
                        body={"description": "", "contents": contents, "sizes": {}, "dry_run": True})
    assert (root.status_code, root.get_json()["message"]) == (400, "Unexpected node type")


def test_subpackage_push_creates_a_new_package(registry):
    (alice,) = users(registry, "alice")
    dry, blobs = _update(registry, alice, "sub/leaf", {"leaf": b"leaf"}, dry_run=True)
    for digest, urls in dry.get_json()["upload_urls"].items():
        registry.transfer("PUT", urls["put"], data=blobs[digest])
    real, _ = _update(registry, alice, "sub/leaf", {"leaf": b"leaf"}, dry_run=False)
    expected, _ = build_tree({"sub/leaf": b"leaf"})
    assert real.get_json()["package_hash"] == registry.tophash(expected)


def test_preview_comments_recent_and_profile(registry):
    alice, bob = users(registry, "alice", "bob")
    files = {"README": b"# Hello\nReleased data.\n", "data/a.csv": b"1", **{f"many/f{i:02d}": b"x" for i in range(12)}}
    _, top_hash = registry.push(alice, "alice", "demo", files)
    registry.push(alice, "alice", "open", {"b": b"b"}, is_public=True)

    preview = call(registry, "GET", f"/api/package_preview/alice/demo/{top_hash}", alice)[1]
    assert preview["readme_preview"] == "# Hello\nReleased data.\n"
    assert registry.download(preview["readme_url"], 23) == files["README"]
    assert preview["preview"][0] == ["README", None]
    assert preview["preview"][2][0] == "many" and preview["preview"][2][1][-1] == ["...", None]
    assert len(preview["preview"][2][1]) == 11
    assert preview["total_size_uncompressed"] == 23 + 1 + 1  # distinct fragments
    assert (preview["log_count"], preview["is_public"]) == (1, False)
    assert preview["file_types"] == {"": 13, "csv": 1}
    assert call(registry, "GET", f"/api/package_preview/alice/demo/{top_hash}", bob)[0] == 404

    posted = call(registry, "POST", "/api/comments/alice/demo/", alice, {"contents": "Nice"})[1]["comment"]
    assert (posted["author"], posted["contents"], len(posted["id"])) == ("alice", "Nice", 16)
    assert call(registry, "GET", "/api/comments/alice/demo/", alice)[1] == {"comments": [posted]}
    assert call(registry, "POST", "/api/comments/alice/demo/", bob, {"contents": "Hi"})[0] == 404
    assert call(registry, "POST", "/api/comments/alice/demo/", None, {"contents": "Hi"})[0] == 401
    assert call(registry, "POST", "/api/comments/alice/demo/", alice, {"contents": ""})[0] == 400

    recent = call(registry, "GET", "/api/recent_packages/?count=5", None)[1]["packages"]
    assert [(p["owner"], p["name"]) for p in recent] == [("alice", "open")]
    mine = call(registry, "GET", "/api/recent_packages/?count=nope", alice)[1]["packages"]
    assert [p["name"] for p in mine] == ["open", "demo"]
    assert mine[0]["updated_at"].endswith("+00:00")

    registry.api("PUT", "/api/access/alice/demo/bob", token=alice)
    assert call(registry, "GET", "/api/profile", bob)[1] == {
        "packages": {"own": [], "shared": [{"owner": "alice", "name": "demo", "is_public": False, "is_team": False}]},
        "plan": None, "have_credit_card": None, "is_admin": False}
    assert call(registry, "GET", "/api/profile", None)[0] == 401
    with registry.state.session_factory() as session:
        assert json.loads(session.scalar(select(Event.extra).where(Event.type == "PUSH"))) == {"public": False}
        assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "PREVIEW")) == 1
