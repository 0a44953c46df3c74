"""Trees are stored in content-defined pieces shared between instances, and read back byte for
byte; keywords are shared the same way. On both databases."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select

from registry.models import Instance, InstancePiece, KeywordSet, Package, TreePiece
from registry.services import trees


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
                                keyword_set_id=trees.keyword_set(session, "same names"))
            session.add(instance)
            session.flush()
            trees.save(session, instance.id, trees.serialize(contents), max_bytes=10**8)
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
