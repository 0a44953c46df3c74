"""PUT /api/v2/package/OWNER/NAME/HASH: a push sent as its changes to an instance of the package,
on both databases and both blob stores (SeaweedFS for S3)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from registry.models import Event, Instance, InstanceChunk, Log, Tag
from registry.tree import MAX_DEPTH
from tests.helpers import build_tree, linked_hashes_by_instance, sha256

FILES = {"README": b"# Demo\n", "data/table.csv": b"a,b\n1,2\n", "data/raw/bytes.bin": bytes(range(256)),
         "empty": b""}
CHANGED = {**{k: v for k, v in FILES.items() if k != "empty"}, "data/table.csv": b"a,b\n3,4\n",
           "data/notes.txt": b"new notes", "more/deep/file.txt": b"a new folder"}


def changes_between(base: dict, new: dict, at: str = "") -> dict:
    """What to send to turn `base` into `new`: changed or added children whole, removed ones as None."""
    changes = {}
    for name in base["children"].keys() - new["children"].keys():
        changes[at + name] = None
    for name, node in new["children"].items():
        old = base["children"].get(name)
        if old == node:
            continue
        if old is not None and old["type"] == node["type"] == "GROUP" and old.keys() == node.keys() == {
                "type", "children"}:
            changes.update(changes_between(old, node, f"{at}{name}/"))
        else:
            changes[at + name] = node
    return changes


def push_changes(registry, token, base_hash: str, contents: dict, changes: dict, sizes: dict, *,
                 package="alice/demo", top_hash: str | None = None, **extra):
    body = {"base": base_hash, "changes": changes, "sizes": sizes, **extra}
    return registry.api("PUT", f"/api/v2/package/{package}/{top_hash or registry.tophash(contents)}", token=token,
                        body=body, compress=True)


def upload(registry, token, blobs: dict[str, bytes], package="alice/demo") -> None:
    """The SDK's way: a push plan for the new fragments, then a PUT to each URL it answers."""
    if not blobs:
        return
    plan = registry.api("POST", f"/api/v2/push-plan/{package}", token=token,
                        body={"fragments": {h: len(b) for h, b in blobs.items()}})
    assert plan.status_code == 200, plan.get_json()
    for digest, entry in plan.get_json()["fragments"].items():
        if entry["action"] == "single":
            status = registry.transfer("PUT", entry["url"], data=blobs[digest], headers=entry["headers"])[0]
            assert status == 200, status


@pytest.fixture
def pushed(any_registry):
    """alice/demo pushed whole from FILES; returns (registry, token, base tree, base hash)."""
    any_registry.create_user("alice")
    token = any_registry.token("alice")
    response, top_hash = any_registry.push(token, "alice", "demo", FILES)
    assert response.status_code == 200, response.get_json()
    return any_registry, token, build_tree(FILES)[0], top_hash


def new_fragments(base_files: dict, files: dict) -> dict[str, bytes]:
    held = {sha256(v) for v in base_files.values()}
    return {sha256(v): v for v in files.values() if sha256(v) not in held}


def count(registry, model, *where):
    with registry.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_changes_make_the_same_instance_as_a_whole_push(pushed):
    registry, token, base, base_hash = pushed
    contents = build_tree(CHANGED)[0]
    fresh = new_fragments(FILES, CHANGED)
    upload(registry, token, fresh)
    changes = changes_between(base, contents)
    assert set(changes) == {"empty", "data/table.csv", "data/notes.txt", "more"}
    response = push_changes(registry, token, base_hash, contents, changes, {h: len(b) for h, b in fresh.items()},
                            message="second")
    assert response.status_code == 200, response.get_json()
    top_hash = registry.tophash(contents)
    assert response.get_json() == {"package_url": "http://localhost/package/alice/demo", "package_hash": top_hash}

    installed = registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token).get_json()
    assert registry.tophash(installed["contents"]) == top_hash
    assert installed["sizes"] == {sha256(v): len(v) for v in CHANGED.values()}
    assert {h: registry.download(u, installed["sizes"][h]) for h, u in installed["urls"].items()} == \
        {sha256(v): v for v in CHANGED.values()}
    with registry.state.session_factory() as session:
        instance = session.scalar(select(Instance).where(Instance.hash == top_hash))
        assert linked_hashes_by_instance(session)[instance.id] == {sha256(v) for v in CHANGED.values()}
        assert session.scalar(select(Tag.instance_id).where(Tag.name == "latest")) == instance.id
        assert session.scalar(select(Log.message).where(Log.instance_id == instance.id)) == "second"
        pushes = session.scalars(select(Event.package_hash).where(Event.type == "PUSH")).all()
        assert pushes == [base_hash, top_hash]
        chunks = set(session.scalars(select(InstanceChunk.chunk_id).where(InstanceChunk.instance_id == instance.id)))

    # The same tree pushed whole, to another package of alice's, holds the very same fragment chunks.
    whole, same_hash = registry.push(token, "alice", "copy", CHANGED)
    assert (whole.status_code, same_hash) == (200, top_hash)
    with registry.state.session_factory() as session:
        copy = session.scalar(select(Instance.id).where(Instance.hash == top_hash, Instance.id != instance.id))
        assert set(session.scalars(select(InstanceChunk.chunk_id).where(InstanceChunk.instance_id == copy))) == chunks


def test_changes_that_add_no_fragment_need_no_sizes(pushed):
    registry, token, base, base_hash = pushed
    files = {k: v for k, v in FILES.items() if k != "README"}
    contents = build_tree(files)[0]
    response = push_changes(registry, token, base_hash, contents, {"README": None}, {})
    assert response.status_code == 200, response.get_json()
    assert count(registry, Instance) == 2


def test_pushing_the_base_again_as_no_changes_logs_a_push(pushed):
    registry, token, base, base_hash = pushed
    response = push_changes(registry, token, base_hash, base, {}, {})
    assert response.status_code == 200, response.get_json()
    assert (count(registry, Instance), count(registry, Log)) == (1, 2)


def test_a_wrong_top_hash_is_refused_and_nothing_is_written(pushed):
    registry, token, base, base_hash = pushed
    contents = build_tree(CHANGED)[0]
    fresh = new_fragments(FILES, CHANGED)
    upload(registry, token, fresh)
    response = push_changes(registry, token, base_hash, contents, changes_between(base, contents),
                            {h: len(b) for h, b in fresh.items()}, top_hash=sha256(b"something else"))
    assert (response.status_code, response.get_json()["message"]) == (400, "Wrong contents hash")
    assert (count(registry, Instance), count(registry, Log)) == (1, 1)


@pytest.mark.parametrize("base", ["unknown", "other package"])
def test_a_base_that_is_not_an_instance_of_the_package_is_a_conflict(pushed, base):
    registry, token, tree, base_hash = pushed
    if base == "other package":
        registry.push(token, "alice", "other", {"x": b"other"})
        base_hash = registry.tophash(build_tree({"x": b"other"})[0])
    else:
        base_hash = sha256(b"no such instance")
    response = push_changes(registry, token, base_hash, tree, {}, {})
    assert response.status_code == 409
    assert response.get_json()["message"] == \
        f"{base_hash} is not an instance of alice/demo; push the whole tree instead"


def test_sizes_must_name_exactly_the_new_fragments(pushed):
    registry, token, base, base_hash = pushed
    contents = build_tree(CHANGED)[0]
    fresh = new_fragments(FILES, CHANGED)
    upload(registry, token, fresh)
    changes = changes_between(base, contents)
    sizes = {h: len(b) for h, b in fresh.items()}
    missing = dict(list(sizes.items())[1:])
    response = push_changes(registry, token, base_hash, contents, changes, missing)
    assert response.status_code == 400
    assert response.get_json()["message"].startswith(f"Sizes must name exactly the fragments that {base_hash} "
                                                     f"does not hold; missing: {next(iter(sizes))}, not new: none")
    held = sha256(FILES["README"])
    response = push_changes(registry, token, base_hash, contents, changes, {**sizes, held: 7})
    assert response.status_code == 400
    assert response.get_json()["message"].endswith(f"missing: none, not new: {held}")
    assert count(registry, Instance) == 1


def test_a_new_fragment_that_was_not_uploaded_is_refused(pushed):
    registry, token, base, base_hash = pushed
    contents = build_tree(CHANGED)[0]
    fresh = new_fragments(FILES, CHANGED)
    response = push_changes(registry, token, base_hash, contents, changes_between(base, contents),
                            {h: len(b) for h, b in fresh.items()})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["message"].startswith("3 fragment(s) are not in storage; upload them first: ")
    assert (count(registry, Instance), count(registry, Log)) == (1, 1)


FILE = {"type": "FILE", "hashes": [sha256(b"# Demo\n")]}


@pytest.mark.parametrize("changes, message", [
    ({"README/inside": FILE}, "Invalid change at /README/inside: /README is not a group"),
    ({"nowhere/file": FILE}, "Invalid change at /nowhere/file: /nowhere is not a group"),
    ({"data": None, "data/table.csv": FILE}, "Invalid change at /data/table.csv: it lies inside the change at /data"),
    ({"absent": None}, "Invalid change at /absent: there is nothing to remove"),
    ({"": FILE}, "Invalid contents at /: invalid child name ''"),
    ({"data/..": FILE}, "Invalid contents at /data: invalid child name '..'"),
    ({"data/x": {"type": "ROOT", "children": {}}}, "Unexpected node type at /data/x"),
    ({"data/x": {"type": "FILE", "hashes": ["nope"]}},
     "Invalid contents at /data/x: 'hashes' must be a list of SHA-256 hex digests"),
    ({"data/x": {"type": "GROUP", "children": {"a": {"type": "FILE", "hashes": [], "oops": 1}}}},
     "Invalid contents at /data/x/a: unexpected keys ['oops']"),
    ({"/".join(["d"] * (MAX_DEPTH + 1)): FILE}, f"Invalid contents: deeper than {MAX_DEPTH} levels"),
])
def test_bad_changes_are_refused_and_nothing_is_written(pushed, changes, message):
    registry, token, base, base_hash = pushed
    response = push_changes(registry, token, base_hash, base, changes, {}, top_hash=sha256(b"any"))
    assert (response.status_code, response.get_json()["message"]) == (400, message)
    assert (count(registry, Instance), count(registry, Log)) == (1, 1)


def test_a_change_may_not_nest_past_the_depth_bound(pushed):
    registry, token, base, base_hash = pushed
    node = FILE
    for _ in range(MAX_DEPTH - 1):
        node = {"type": "GROUP", "children": {"d": node}}
    response = push_changes(registry, token, base_hash, base, {"data/raw/deep": node}, {}, top_hash=sha256(b"x"))
    assert (response.status_code, response.get_json()["message"]) == \
        (400, f"Invalid contents: deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize("body, field", [
    ({"changes": {}, "sizes": {}}, "base"),
    ({"base": "abc", "changes": {}, "sizes": {}}, "base"),
    ({"base": sha256(b"b"), "changes": {"a": "not a node"}, "sizes": {}}, "changes"),
    ({"base": sha256(b"b"), "changes": [], "sizes": {}}, "changes"),
    ({"base": sha256(b"b"), "changes": {}, "sizes": {"x": 1}}, "sizes"),
    ({"base": sha256(b"b"), "changes": {}, "sizes": {}, "contents": {}}, "contents"),
])
def test_a_malformed_body_is_a_validation_error(registry, body, field):
    registry.create_user("alice")
    response = registry.api("PUT", f"/api/v2/package/alice/demo/{sha256(b'x')}", token=registry.token("alice"),
                            body=body)
    assert response.status_code == 400
    assert field in response.get_json()["errors"]


def test_only_writers_may_push_changes(pushed):
    registry, token, base, base_hash = pushed
    registry.create_user("bob")
    bob = registry.token("bob")
    contents = build_tree({**FILES, "README": b"bob was here"})[0]
    changes = {"README": contents["children"]["README"]}
    sizes = {sha256(b"bob was here"): 12}
    assert push_changes(registry, None, base_hash, contents, changes, sizes).status_code == 401
    assert push_changes(registry, bob, base_hash, contents, changes, sizes).status_code == 404  # private: hidden
    assert registry.api("PUT", "/api/access/alice/demo/bob", token=token).status_code == 200
    assert push_changes(registry, bob, base_hash, contents, changes, sizes).status_code == 403  # readable, not his
    assert count(registry, Instance) == 1


def test_the_limits_of_a_push_apply_to_the_merged_tree(settings):
    """The tree's stored size is bounded however it arrives: changes cannot grow it past the bound."""
    from registry import Settings, create_app
    from tests.helpers import TestRegistry

    registry = TestRegistry(create_app(Settings(**{**settings.__dict__, "max_contents_bytes": 2048})))
    try:
        registry.create_user("alice")
        token = registry.token("alice")
        response, base_hash = registry.push(token, "alice", "demo", {"a": b"a"})
        assert response.status_code == 200
        files = {"a": b"a", **{f"f{i}": str(i).encode() for i in range(200)}}
        contents, blobs = build_tree(files)
        upload(registry, token, {h: b for h, b in blobs.items() if b != b"a"})
        big = {name: node for name, node in contents["children"].items() if name != "a"}
        response = push_changes(registry, token, base_hash, contents, big,
                                {h: len(b) for h, b in blobs.items() if b != b"a"})
        assert response.status_code == 413, response.get_json()
        assert count(registry, Instance) == 1
    finally:
        registry.state.engine.dispose()


def test_an_event_and_log_name_the_pusher(pushed):
    registry, token, base, base_hash = pushed
    contents = build_tree({**FILES, "README": b"# Demo 2\n"})[0]
    upload(registry, token, {sha256(b"# Demo 2\n"): b"# Demo 2\n"})
    response = push_changes(registry, token, base_hash, contents, {"README": contents["children"]["README"]},
                            {sha256(b"# Demo 2\n"): 9}, is_public=False)
    assert response.status_code == 200, response.get_json()
    with registry.state.session_factory() as session:
        event = session.scalars(select(Event).where(Event.type == "PUSH").order_by(Event.id.desc())).first()
        assert (event.user, json.loads(event.extra)) == ("alice", {"public": False})
        instance = session.scalar(select(Instance).where(Instance.hash == registry.tophash(contents)))
        assert instance.readme_hash == sha256(b"# Demo 2\n")


def test_search_finds_the_names_a_push_of_changes_brings_and_not_those_it_removes(pushed):
    registry, token, base, base_hash = pushed

    def found(word: str) -> bool:
        answer = registry.api("GET", "/api/search/", token=token, query_string={"q": word}).get_json()
        return [p["owner"] + "/" + p["name"] for p in answer["packages"]] == ["alice/demo"]

    def words_of(top_hash: str) -> int:
        with registry.state.session_factory() as session:
            return session.scalar(select(Instance.keyword_set_id).where(Instance.hash == top_hash))

    # A file replaced by a file keeps every name: the base's keywords are kept as they are.
    files = {**FILES, "data/table.csv": b"new table"}
    contents = build_tree(files)[0]
    upload(registry, token, {sha256(b"new table"): b"new table"})
    table = contents["children"]["data"]["children"]["table.csv"]
    response = push_changes(registry, token, base_hash, contents, {"data/table.csv": table},
                            {sha256(b"new table"): 9})
    assert response.status_code == 200, response.get_json()
    assert words_of(registry.tophash(contents)) == words_of(base_hash)

    # A new folder and a removed file: the keywords are those of the new tree.
    newer = build_tree({**{k: v for k, v in files.items() if k != "empty"}, "deep/notes.txt": b"new table"})[0]
    response = push_changes(registry, token, registry.tophash(contents), newer,
                            {"empty": None, "deep": newer["children"]["deep"]}, {})
    assert response.status_code == 200, response.get_json()
    assert found("notes.txt") and found("deep") and not found("empty")
