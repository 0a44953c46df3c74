"""PUT /api/package/OWNER/NAME/HASH (protocol.md 9.2), on both databases and both blob stores."""

import gzip
import json

from sqlalchemy import func, select

from registry.models import Access, Blob, Event, Instance, Log, Package, Tag
from tests.helpers import build_tree, linked_hashes_by_instance, sha256

FILES = {"README": b"# Demo\n", "data/table.csv": b"a,b\n1,2\n", "data/raw/bytes.bin": bytes(range(256)),
         "empty": b""}


def count(registry, model, *where):
    with registry.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_dry_run_returns_upload_urls_for_exactly_the_object_hashes(any_registry):
    any_registry.create_user("alice")
    token = any_registry.token("alice")
    contents, blobs = build_tree(FILES)
    contents["metadata_hash"] = sha256(b'{"k":"v"}')
    top_hash = any_registry.tophash(contents)
    response = any_registry.api("PUT", f"/api/package/alice/demo/{top_hash}", token=token, compress=True,
                                body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    assert response.status_code == 200
    urls = response.get_json()["upload_urls"]
    assert set(urls) == set(blobs) | {contents["metadata_hash"]}
    assert all(set(pair) == {"head", "put"} and pair["head"] != pair["put"] for pair in urls.values())
    assert count(any_registry, Package) == 0, "a dry run creates nothing"


def test_push_stores_everything_in_one_go(any_registry):
    any_registry.create_user("alice")
    response, top_hash = any_registry.push(any_registry.token("alice"), "alice", "demo", FILES, message="first")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"package_url": "http://localhost/package/alice/demo", "package_hash": top_hash}
    with any_registry.state.session_factory() as session:
        package = session.scalar(select(Package))
        assert (package.owner, package.name) == ("alice", "demo")
        assert set(session.scalars(select(Access.principal))) == {"alice"}
        instance = session.scalar(select(Instance))
        assert (instance.hash, instance.created_by, instance.readme_hash) == (top_hash, "alice", sha256(b"# Demo\n"))
        assert {(b.hash, b.size) for b in session.scalars(select(Blob))} == {(sha256(v), len(v)) for v in FILES.values()}
        assert linked_hashes_by_instance(session) == {instance.id: {sha256(v) for v in FILES.values()}}
        log = session.scalar(select(Log))
        assert (log.author, log.message, log.instance_id) == ("alice", "first", instance.id)
        assert session.scalar(select(Tag.instance_id).where(Tag.name == "latest")) == instance.id
        event = session.scalar(select(Event))
        assert (event.type, event.user, event.package_hash, json.loads(event.extra)) == ("PUSH", "alice", top_hash,
                                                                                         {"public": False})


def test_push_with_public_and_team_creates_those_access_rows(registry):
    registry.create_user("alice")
    response, _ = registry.push(registry.token("alice"), "alice", "shared", FILES, is_public=True, is_team=True)
    assert response.status_code == 200
    assert count(registry, Access) == 3


def test_pushing_the_same_hash_again_adds_a_log_row_and_keeps_the_tree(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    first, top_hash = registry.push(token, "alice", "demo", FILES)
    second, same_hash = registry.push(token, "alice", "demo", FILES)
    assert (first.status_code, second.status_code, same_hash) == (200, 200, top_hash)
    assert count(registry, Instance) == 1
    assert count(registry, Log) == 2
    assert count(registry, Blob) == len(FILES)


def test_fragments_are_shared_between_packages_of_one_owner(any_registry):
    """On S3 the second push finds the first one's upload batch and its rows: nothing is added."""
    registry = any_registry
    registry.create_user("alice")
    token = registry.token("alice")
    registry.push(token, "alice", "one", FILES)
    with registry.state.session_factory() as session:
        rows = session.execute(select(Blob.id, Blob.hash, Blob.size, Blob.batch)).all()
    response, _ = registry.push(token, "alice", "two", FILES)
    assert response.status_code == 200
    with registry.state.session_factory() as session:
        assert session.execute(select(Blob.id, Blob.hash, Blob.size, Blob.batch)).all() == rows
    assert len(rows) == len(FILES)
    with registry.state.session_factory() as session:
        linked = linked_hashes_by_instance(session)
    assert len(linked) == 2 and all(hashes == {sha256(v) for v in FILES.values()} for hashes in linked.values())


def test_a_push_whose_fragments_were_not_uploaded_is_refused(any_registry):
    any_registry.create_user("alice")
    response, _ = any_registry.push(any_registry.token("alice"), "alice", "demo", FILES, upload=False)
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"].startswith(f"{len(FILES)} fragment(s) are not in storage; upload them first")
    assert sorted(body["missing"]) == sorted(sha256(v) for v in FILES.values())
    assert count(any_registry, Package) == 0


def test_another_owners_copy_of_a_fragment_does_not_count(registry):
    registry.create_user("alice")
    registry.create_user("bob")
    assert registry.push(registry.token("alice"), "alice", "demo", {"f": b"12345"})[0].status_code == 200
    # Fragments live per owner (objs/OWNER/HASH): bob must upload his own copy.
    response, _ = registry.push(registry.token("bob"), "bob", "demo", {"f": b"12345"}, upload=False)
    assert response.status_code == 400
    assert response.get_json()["missing"] == [sha256(b"12345")]


def test_declared_size_must_match_the_stored_fragment(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    contents, blobs = build_tree({"f": b"12345"})
    top_hash = registry.tophash(contents)
    dry = registry.api("PUT", f"/api/package/alice/demo/{top_hash}", token=token,
                       body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    (digest, urls), = dry.get_json()["upload_urls"].items()
    assert registry.transfer("PUT", urls["put"], data=blobs[digest])[0] == 200
    response = registry.api("PUT", f"/api/package/alice/demo/{top_hash}", token=token,
                            body={"description": "", "contents": contents, "sizes": {digest: 4}})
    assert response.status_code == 400
    assert response.get_json()["message"] == (f"1 fragment(s) differ in size from the push: {digest} "
                                              "(stored 5, declared 4)")


def _push_body(contents, **extra):
    return {"dry_run": True, "description": "", "contents": contents, "sizes": {}, **extra}


def test_errors_in_the_order_and_words_the_client_expects(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    contents, blobs = build_tree({"f": b"x"})
    good = registry.tophash(contents)

    def put(path, body, **kwargs):
        response = registry.api("PUT", path, body=body, **kwargs)
        return response.status_code, response.get_json()["message"]

    assert put(f"/api/package/alice/demo/{good}", _push_body(contents)) == (401, "Not logged in")
    assert put(f"/api/package/alice/demo/{good}", _push_body(contents), token="garbage") == (401, "Token invalid.")
    assert put(f"/api/package/alice/1bad/{good}", _push_body(contents), token=token) == (400, "Invalid package name")
    assert put(f"/api/package/alice/demo/{'0' * 64}", _push_body(contents), token=token) == (400, "Wrong contents hash")
    assert put(f"/api/package/alice/demo/{good}", _push_body({"type": "GROUP", "children": {}}),
               token=token) == (400, "Unexpected node type")
    status, message = put(f"/api/package/alice/demo/{good}", _push_body(contents, dry_run=False), token=token)
    assert (status, message) == (400, "Sizes don't match the hashes")
    status, message = put(f"/api/package/alice/demo/{good}", _push_body(contents, bogus=1), token=token)
    assert status == 400 and "bogus" in message
    status, message = put(f"/api/package/alice/demo/{good}", {**_push_body(contents), "sizes": {"x": 1}}, token=token)
    assert status == 400 and "sizes" in message
    registry.create_user("bob")
    # Only alice creates packages under alice/; to anyone else it simply does not exist.
    assert put(f"/api/package/alice/demo/{good}", _push_body(contents), token=registry.token("bob")) == (
        404, "Package alice/demo does not exist")


def test_anonymous_and_team_flags_follow_the_deployment(settings):
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    closed = TestRegistry(create_app(Settings(**{**settings.__dict__, "allow_anonymous_access": False,
                                                 "allow_team_access": False})))
    closed.create_user("alice")
    token = closed.token("alice")
    contents, _ = build_tree({"f": b"x"})
    path = f"/api/package/alice/demo/{closed.tophash(contents)}"
    public = closed.api("PUT", path, token=token, body=_push_body(contents, is_public=True))
    team = closed.api("PUT", path, token=token, body=_push_body(contents, is_team=True))
    assert (public.status_code, public.get_json()["message"]) == (403, "Public access not allowed")
    assert (team.status_code, team.get_json()["message"]) == (403, "Team access not allowed")
    closed.state.engine.dispose()


def test_names_differing_only_in_case_cannot_both_exist(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    assert registry.push(token, "alice", "Demo", FILES)[0].status_code == 200
    response, _ = registry.push(token, "alice", "demo", FILES)
    assert (response.status_code, response.get_json()["message"]) == (403, "Package already exists: alice/Demo")


def test_private_package_of_another_user_looks_like_no_package(registry):
    registry.create_user("alice")
    registry.create_user("bob")
    registry.push(registry.token("alice"), "alice", "secret", FILES)
    existing, _ = registry.push(registry.token("bob"), "alice", "secret", FILES)
    missing, _ = registry.push(registry.token("bob"), "alice", "secret2", FILES)
    assert existing.status_code == missing.status_code == 404
    assert existing.get_json()["message"] == "Package alice/secret does not exist"
    assert missing.get_json()["message"] == "Package alice/secret2 does not exist"


def test_reader_may_not_push_but_team_members_may(registry):
    for name in ("alice", "bob"):
        registry.create_user(name)
    registry.push(registry.token("alice"), "alice", "public", FILES, is_public=True)
    registry.push(registry.token("alice"), "alice", "team", FILES, is_team=True)
    changed = {**FILES, "new": b"new"}
    reader, _ = registry.push(registry.token("bob"), "alice", "public", changed)
    assert (reader.status_code, reader.get_json()["message"]) == (403, "Only the package owner can push private packages.")
    member, top_hash = registry.push(registry.token("bob"), "alice", "team", changed)
    assert member.status_code == 200
    with registry.state.session_factory() as session:
        instance = session.scalar(select(Instance).where(Instance.hash == top_hash))
        assert instance.created_by == "bob"
        # The fragments belong to the package owner's namespace, whoever pushed them.
        assert session.scalar(select(Blob.owner).where(Blob.hash == sha256(b"new"))) == "alice"


def test_pushing_public_to_a_private_package_is_refused_with_a_hint(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    registry.push(token, "alice", "demo", FILES)
    response, _ = registry.push(token, "alice", "demo", FILES, is_public=True)
    assert response.status_code == 403
    assert response.get_json()["message"] == ("alice/demo is private. To make it public, run "
                                              "`quilt access add alice/demo public`.")


def test_malformed_bodies_get_json_errors(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    path = f"/api/package/alice/demo/{'0' * 64}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    not_json = registry.client.put(path, data=b"{nope", headers=headers)
    bad_gzip = registry.client.put(path, data=b"not gzip", headers={**headers, "Content-Encoding": "gzip"})
    brotli = registry.client.put(path, data=b"x", headers={**headers, "Content-Encoding": "br"})
    bomb = registry.client.put(path, data=gzip.compress(b" " * (registry.state.settings.max_request_bytes + 1)),
                               headers={**headers, "Content-Encoding": "gzip"})
    assert (not_json.status_code, not_json.get_json()["message"]) == (400, "The request body is not valid JSON")
    assert (bad_gzip.status_code, bad_gzip.get_json()["message"]) == (400, "The request body is not valid gzip")
    assert (brotli.status_code, brotli.get_json()["message"]) == (400, "Unsupported Content-Encoding: br")
    assert bomb.status_code == 413 and "larger than" in bomb.get_json()["message"]
