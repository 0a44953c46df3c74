"""Trees are stored in content-defined pieces shared between instances, and read back byte for
byte; keywords are shared the same way. On both databases."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from sqlalchemy import func, select

from registry.models import Instance, InstancePiece, KeywordSet, Package, TreePiece
from registry.services import keywords, trees


def big_tree(files: int, changed: range = range(0)) -> dict:
    children = {}
    for group in range(10):
        nodes = {}
        for i in range(files // 10):
            n = group * (files // 10) + i
            seed = f"new {n}" if n in changed else str(n)
            nodes[f"fïle_{i:05d}.bin"] = {"type": "FILE", "hashes": [hashlib.sha256(seed.encode()).hexdigest()],
                                          "metadata": {"q_path": f"d{group}/{i}", "size": 1.5e-7, "n": 10**18}}
        children[f"d{group}"] = {"type": "GROUP", "children": nodes}
    return {"type": "ROOT", "children": children}


def test_pieces_are_cut_by_content_and_join_back_to_the_same_bytes():
    before = trees.serialize(big_tree(20_000))
    after = trees.serialize(big_tree(20_000, changed=range(5000, 5010)))
    first, second = trees.pieces(before), trees.pieces(after)
    assert b"".join(first) == before and b"".join(second) == after
    assert 200 < len(first) < 450  # a cut about every 64 files
    assert len(set(second) - set(first)) <= 10


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_new_instance_writes_only_the_pieces_that_changed(registry):
    with registry.state.session_factory() as session:
        package = Package(owner="alice", name="tree", folded_handle="alice/tree")
        session.add(package)
        session.flush()
        ids = []
        for n, contents in enumerate((big_tree(20_000), big_tree(20_000, changed=range(5000, 5010)))):
            instance = Instance(package_id=package.id, hash=str(n) * 64, created_by="alice", updated_by="alice",
                                keyword_set_id=keywords.keyword_set(session, "same names"))
            session.add(instance)
            session.flush()
            trees.save(session, instance.id, contents, max_bytes=10**8)
            ids.append((instance.id, contents))
            if n == 0:
                pieces_after_first = count(session, TreePiece)
        session.commit()
        for instance_id, contents in ids:
            stored = trees.load(session, instance_id)
            assert stored == json.dumps(contents, separators=(",", ":"), ensure_ascii=False).encode()
        assert count(session, TreePiece) - pieces_after_first <= 10
        assert count(session, InstancePiece) == sum(len(trees.pieces(trees.serialize(c))) for _, c in ids)
        assert count(session, KeywordSet) == 1, "two instances with the same names share one keyword row"


def plain_tree(files: int, changed: range = range(0), extra: dict | None = None, gone: range = range(0)) -> dict:
    """A tree without floats (orjson writes it as json does), in 10 groups."""
    children: dict = {}
    for n in range(files):
        if n in gone:
            continue
        seed = f"new {n}" if n in changed else str(n)
        children.setdefault(f"d{n * 10 // files}", {"type": "GROUP", "children": {}})["children"][f"f{n}"] = {
            "type": "FILE", "hashes": [hashlib.sha256(seed.encode()).hexdigest()], "metadata": {"q_path": f"f{n}"}}
    for path, node in (extra or {}).items():
        group, name = path.split("/")
        children[group]["children"][name] = node
    return {"type": "ROOT", "children": children}


def stored(tree_json: bytes) -> trees.StoredTree:
    parts = trees.pieces(tree_json)
    return trees.StoredTree(tree_json, [trees.StoredPiece(part, 1000 + i, len(part) // 3) for i, part in enumerate(parts)])


def leaf(seed: str, **metadata) -> dict:
    return {"type": "FILE", "hashes": [hashlib.sha256(seed.encode()).hexdigest()], "metadata": metadata}


SPLIT_CASES = {
    "ten spread out": dict(changed=range(0, 20_000, 2_000)),
    "the first and the last": dict(changed=range(0, 20_000, 19_999)),
    "a run in the middle": dict(changed=range(9_000, 9_300)),
    "files added": dict(extra={"d3/new1": leaf("a"), "d9/new2": leaf("b")}),
    "files removed": dict(gone=range(4_000, 4_050)),
    "nothing": {},
    "everything": dict(changed=range(20_000)),
}


@pytest.mark.parametrize("case", SPLIT_CASES, ids=list(SPLIT_CASES))
def test_split_cuts_as_pieces_does_and_names_the_base_pieces_it_shares(case):
    base_json = trees.serialize(plain_tree(20_000))
    new_json = trees.serialize(plain_tree(20_000, **SPLIT_CASES[case]))
    base = stored(base_json)
    parts = trees.split(new_json, base)
    assert [p if isinstance(p, bytes) else p.data for p in parts] == trees.pieces(new_json)
    by_id = {p.id: p for p in base.pieces}
    for part in parts:
        if isinstance(part, trees.StoredPiece):
            assert by_id[part.id] is part
    fresh = [p for p in parts if isinstance(p, bytes)]
    base_pieces = {p.data for p in base.pieces}
    # Every piece the base holds is named as the base's, except where its text recurs (not here).
    assert not [p for p in fresh if p in base_pieces]
    if case == "nothing":
        assert not fresh
    if case == "ten spread out":
        assert len(fresh) <= 20


def test_split_of_a_one_piece_tree():
    base_json = trees.serialize({"type": "ROOT", "children": {"a": leaf("x")}})
    assert len(trees.pieces(base_json)) == 1
    same = trees.split(base_json, stored(base_json))
    assert len(same) == 1 and isinstance(same[0], trees.StoredPiece)
    other = trees.serialize({"type": "ROOT", "children": {"a": leaf("y")}})
    assert trees.split(other, stored(base_json)) == [other]


def exact(contents: dict) -> bytes:
    return json.dumps(contents, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("case", ["no floats", "a float in a changed file", "floats everywhere",
                                  "NaN in a changed file", "a long integer in a changed file"])
def test_serialize_against_a_base_writes_what_json_writes(case):
    base_tree = plain_tree(5_000) if case != "floats everywhere" else big_tree(5_000)
    base = stored(trees.serialize(base_tree))
    new = json.loads(json.dumps(base_tree))
    first = next(iter(new["children"].values()))["children"]
    name = next(iter(first))
    first[name] = leaf("changed", **{
        "no floats": {"n": 1}, "a float in a changed file": {"size": 1e16}, "floats everywhere": {"size": 2.5e-8},
        "NaN in a changed file": {"size": float("nan")},
        "a long integer in a changed file": {"n": 10**30}}[case])
    assert trees.serialize(new, base) == exact(new)


def test_saving_against_a_base_stores_what_saving_whole_does(registry):
    with registry.state.session_factory() as session:
        package = Package(owner="alice", name="tree", folded_handle="alice/tree")
        session.add(package)
        session.flush()

        def instance(n: int) -> int:
            row = Instance(package_id=package.id, hash=str(n) * 64, created_by="alice", updated_by="alice",
                           keyword_set_id=keywords.keyword_set(session, "names"))
            session.add(row)
            session.flush()
            return row.id

        first, with_base, whole = instance(1), instance(2), instance(3)
        trees.save(session, first, plain_tree(20_000), max_bytes=10**8)
        changed = plain_tree(20_000, changed=range(0, 20_000, 2_000), extra={"d5/added": leaf("added")})
        base = trees.load_stored(session, first)
        pieces_before = count(session, TreePiece)
        trees.save(session, with_base, changed, max_bytes=10**8, base=base)
        assert count(session, TreePiece) - pieces_before <= 22
        trees.save(session, whole, changed, max_bytes=10**8)
        session.commit()
        assert trees.load(session, with_base) == trees.load(session, whole) == exact(changed)

        def piece_ids(instance_id: int) -> list[int]:
            return list(session.scalars(select(InstancePiece.piece_id).where(InstancePiece.instance_id == instance_id)
                                        .order_by(InstancePiece.position)))

        assert piece_ids(with_base) == piece_ids(whole)


def test_split_stays_linear_when_every_piece_ends_alike():
    """One hash in every file, its last byte a cut point: each file ends a piece, and all pieces
    end with the same bytes. Renaming every file must not compare each new piece with all."""
    same = "0" * 63 + "0"  # ends in 0x00: a cut after every file
    base_tree = {"type": "ROOT", "children": {f"f{n}": {"type": "FILE", "hashes": [same]} for n in range(20_000)}}
    renamed = {"type": "ROOT", "children": {f"g{n}": {"type": "FILE", "hashes": [same]} for n in range(20_000)}}
    base = stored(trees.serialize(base_tree))
    assert len(base.pieces) > 20_000
    started = time.perf_counter()
    parts = trees.split(trees.serialize(renamed), base)
    assert time.perf_counter() - started < 5  # quadratic would be 400 million steps
    assert [p if isinstance(p, bytes) else p.data for p in parts] == trees.pieces(trees.serialize(renamed))
