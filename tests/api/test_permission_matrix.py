"""Who may do what (protocol.md 3.7 and 10.5), as one table: every endpoint x every kind of
caller x every kind of package. A package the caller may not read answers 404 with the same
body as a package that does not exist, on every endpoint."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import update

from registry.models import User
from tests.helpers import build_tree, sha256

KINDS = ("private", "public", "team")
# The owner acts last: its calls succeed and may change or delete the package.
ACTORS = ("anonymous", "disabled", "other", "admin", "reader", "owner")
INACTIVE = (403, "Account is inactive. Must have an active account.")


def visible(actor: str, kind: str) -> bool:
    if actor in ("owner", "reader"):
        return True
    if actor in ("other", "admin"):
        return kind in ("public", "team")
    return actor == "anonymous" and kind == "public"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {pkg} is the package name, {hash} its instance hash
    rule: str  # read | read_user | write_team | write_owner | listing
    body: object = None
    marker: str = ""  # for listings: what must appear in the answer iff the package is readable


SUB, _ = build_tree({"leaf": b"sub"})
ENDPOINTS = [
    Endpoint("install", "GET", "/api/package/alice/{pkg}/{hash}", "read"),
    Endpoint("instances", "GET", "/api/package/alice/{pkg}/", "read"),
    Endpoint("log", "GET", "/api/log/alice/{pkg}/", "read"),
    Endpoint("tag list", "GET", "/api/tag/alice/{pkg}/", "read"),
    Endpoint("tag get", "GET", "/api/tag/alice/{pkg}/latest", "read"),
    Endpoint("version list", "GET", "/api/version/alice/{pkg}/", "read"),
    Endpoint("version get", "GET", "/api/version/alice/{pkg}/1.0", "read"),
    Endpoint("preview", "GET", "/api/package_preview/alice/{pkg}/{hash}", "read"),
    Endpoint("comments", "GET", "/api/comments/alice/{pkg}/", "read"),
    Endpoint("comment", "POST", "/api/comments/alice/{pkg}/", "read_user", {"contents": "hello"}),
    Endpoint("access list", "GET", "/api/access/alice/{pkg}/", "read_user"),
    Endpoint("tag put", "PUT", "/api/tag/alice/{pkg}/moved", "write_team", {"hash": "{hash}"}),
    Endpoint("push", "PUT", "/api/package/alice/{pkg}/{hash}", "write_team", "push"),
    Endpoint("subpackage push", "POST", "/api/package_update/alice/{pkg}/sub", "write_team",
             {"dry_run": True, "description": "", "contents": SUB["children"]["leaf"], "sizes": {}}),
    Endpoint("access check", "GET", "/api/access/alice/{pkg}/reader", "write_owner"),
    Endpoint("access grant", "PUT", "/api/access/alice/{pkg}/erin", "write_owner"),
    Endpoint("access revoke", "DELETE", "/api/access/alice/{pkg}/reader", "write_owner"),
    Endpoint("tag delete", "DELETE", "/api/tag/alice/{pkg}/latest", "write_owner"),
    Endpoint("version add", "PUT", "/api/version/alice/{pkg}/2.0", "write_owner", {"hash": "{hash}"}),
    Endpoint("delete", "DELETE", "/api/package/alice/{pkg}/", "write_owner"),
    Endpoint("get_objects", "POST", "/api/get_objects", "listing", ["{fragment}"], "{fragment}"),
    Endpoint("owner packages", "GET", "/api/package/alice/", "listing", None, '"{pkg}"'),
    Endpoint("search", "GET", "/api/search/?q={pkg}", "listing", None, '"{pkg}"'),
    Endpoint("recent", "GET", "/api/recent_packages/?count=100", "listing", None, '"{pkg}"'),
]


def expected_status(endpoint: Endpoint, actor: str, kind: str) -> int:
    if actor == "disabled":
        return 403
    if endpoint.rule in ("read", "listing"):
        return 200 if endpoint.rule == "listing" or visible(actor, kind) else 404
    if actor == "anonymous":
        return 401
    if not visible(actor, kind):
        return 404
    if endpoint.rule == "read_user" or actor == "owner":
        return 200
    if endpoint.rule == "write_team" and kind == "team":
        return 200
    return 403


@pytest.fixture
def world(registry):
    registry.create_user("alice")
    for name in ("reader", "other", "erin"):
        registry.create_user(name)
    registry.create_user("admin", admin=True)
    registry.create_user("dave")
    tokens = {"owner": registry.token("alice"), "reader": registry.token("reader"), "other": registry.token("other"),
              "admin": registry.token("admin"), "disabled": registry.token("dave"), "anonymous": None}
    with registry.state.session_factory() as session:
        session.execute(update(User).where(User.name == "dave").values(is_active=False))
        session.commit()
    hashes = {}
    for kind in KINDS:
        files = {"README": f"about {kind}".encode(), "data": f"{kind} data".encode()}
        response, hashes[kind] = registry.push(tokens["owner"], "alice", kind, files, is_public=kind == "public",
                                               is_team=kind == "team")
        assert response.status_code == 200
        for call in (("PUT", f"/api/access/alice/{kind}/reader", None),
                     ("PUT", f"/api/version/alice/{kind}/1.0", {"hash": hashes[kind]})):
            assert registry.api(call[0], call[1], token=tokens["owner"], body=call[2]).status_code == 200
    return registry, tokens, hashes


def _fill(value, **names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, **names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, **names) for k, v in value.items()}
    return value


def request(registry, endpoint: Endpoint, token, pkg: str, hash_: str):
    names = {"pkg": pkg, "hash": hash_, "fragment": sha256(f"{pkg} data".encode())}
    body = _fill(endpoint.body, **names)
    if body == "push":
        contents, _ = build_tree({"README": f"about {pkg}".encode(), "data": f"{pkg} data".encode()})
        body = {"dry_run": True, "description": "", "contents": contents, "sizes": {}}
        names["hash"] = registry.tophash(contents)
    return registry.api(endpoint.method, _fill(endpoint.path, **names), token=token, body=body)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_permission_matrix(world, endpoint):
    registry, tokens, hashes = world
    failures = []
    for actor in ACTORS:
        for kind in KINDS:
            response = request(registry, endpoint, tokens[actor], kind, hashes[kind])
            want = expected_status(endpoint, actor, kind)
            body = response.get_json()
            if response.status_code != want:
                failures.append(f"{actor} on {kind}: {response.status_code} {body}, expected {want}")
            elif want == 403 and actor == "disabled" and (403, body["message"]) != INACTIVE:
                failures.append(f"disabled on {kind}: {body}")
            elif want == 404:
                # Exactly what a package that does not exist answers (its name aside).
                missing = request(registry, endpoint, tokens[actor], "missing", hashes[kind]).get_json()
                if body != {**missing, "message": missing["message"].replace("alice/missing", f"alice/{kind}")}:
                    failures.append(f"{actor} on {kind}: 404 body {body} differs from a missing package's {missing}")
            elif endpoint.rule == "listing" and want == 200:
                marker = _fill(endpoint.marker, pkg=kind, fragment=sha256(f"{kind} data".encode()))
                if (marker in response.get_data(as_text=True)) != visible(actor, kind):
                    failures.append(f"{actor} on {kind}: listing {'lacks' if visible(actor, kind) else 'shows'} it")
    assert not failures, "\n".join(failures)


def test_anonymous_access_disabled_turns_reads_into_401(settings):
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_anonymous_access": False})))
    closed.create_user("alice")
    closed.push(closed.token("alice"), "alice", "demo", {"a": b"a"})
    for path in ("/api/package/alice/demo/", "/api/search/?q=", "/api/tag/alice/demo/latest", "/api/recent_packages/"):
        response = closed.api("GET", path)
        assert (response.status_code, response.get_json()["message"]) == (401, "Not logged in"), path
    closed.state.engine.dispose()


def test_team_access_disabled_ignores_team_rows(settings):
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    open_team = TestRegistry(create_app(settings))
    open_team.create_user("alice")
    open_team.create_user("bob")
    open_team.push(open_team.token("alice"), "alice", "team", {"a": b"a"}, is_team=True)
    assert open_team.api("GET", "/api/package/alice/team/", token=open_team.token("bob")).status_code == 200
    open_team.state.engine.dispose()
    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_team_access": False})))
    response = closed.api("GET", "/api/package/alice/team/", token=closed.token("bob"))
    assert response.status_code == 404
    closed.state.engine.dispose()


ADMIN_ENDPOINTS = [("GET", "/api/users/list"), ("GET", "/api/users/list_detailed"), ("GET", "/api/audit/alice/"),
                   ("GET", "/api/audit/alice/private/"), ("GET", "/api/admin/package_list/alice"),
                   ("GET", "/api/admin/package_summary"), ("POST", "/api/users/enable")]


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
def test_administration_is_for_admins_only(world, method, path):
    registry, tokens, _ = world
    body = {"username": "erin"} if method == "POST" else None
    expected = {"anonymous": (401, "Not logged in"), "disabled": INACTIVE, "admin": (200, None)}
    for actor in ACTORS:
        response = registry.api(method, path, token=tokens[actor], body=body)
        want = expected.get(actor, (403, "Must be authenticated as an admin to use this endpoint."))
        got = (response.status_code, None if response.status_code == 200 else response.get_json()["message"])
        assert got == want, (actor, response.get_json())
