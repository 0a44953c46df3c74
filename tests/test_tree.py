"""The tree rules of protocol.md 5 and the tophash vectors of protocol.md 7."""

import pytest

from registry import tree
from registry.errors import BadRequest, NotFound

H1 = "d146942c9a051553f77d1e00672f2829565c590be972a1330de726a8db223589"
H2 = "4cf37d7f670709346438cf2f2598db630eb34520947308aed55ad5e53f0c1518"
H3 = "46449f44f36ec78364ae846fa47df57870e49d3c6cee59b3682aaf289e6d7586"
META = "a" * 64

EXAMPLE_5_1 = {"type": "ROOT", "children": {
    "README": {"type": "FILE", "hashes": ["5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"],
               "metadata": {"q_ext": "id", "q_path": "README.md", "q_target": "file"}},
    "sub": {"type": "GROUP", "children": {
        "data": {"type": "FILE", "hashes": ["4bec2375f7be038383af9de77ba0198469239bea14a50add18388b0b5780dec7"],
                 "metadata": {"q_ext": "csv", "q_path": "sub/data.csv", "q_target": "pandas"}},
        "raw": {"type": "FILE", "hashes": ["2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"],
                "metadata": {"q_ext": "id", "q_path": "sub/raw.bin", "q_target": "file"}}}}}}


def table(*hashes, **extra):
    return {"type": "TABLE", "hashes": list(hashes), "format": "PARQUET", **extra}


VECTORS = [
    ({"type": "ROOT", "children": {}}, "3e659fce4c878d0ad00f6df85ca1aef2aa1bcef25137f030312f01f39d256a82"),
    ({"type": "ROOT", "children": {"foo": {"type": "GROUP", "children": {}}}},
     "c118d4aa439bbf240c484cf9ccfa625114969007107ff69fd2eb6a24165de035"),
    ({"type": "ROOT", "children": {"file": {"type": "FILE", "hashes": [H3]}}},
     "ede3e3b8d0d3df8503aa9b27d592b5e27281f929cb440a556a2d0c3c52a912e7"),
    ({"type": "ROOT", "children": {
        "foo": table(H1, H2),
        "group1": {"type": "GROUP", "children": {"empty": table(), "group2": {"type": "GROUP", "children": {
            "bar": table(H1)}}}},
        "file": {"type": "FILE", "hashes": [H3]}}},
     "a20597100b045f5420de46b7188590e8688bcfe2ac01e9cbefe26f8919b3f44d"),
    ({"type": "ROOT", "metadata_hash": META, "children": {
        "f": {"type": "FILE", "hashes": [H3], "metadata_hash": META}}},
     "1016a04e06261c59f1636a3527c78ae4a71dc8fa6700019581adee2e427def54"),
    (EXAMPLE_5_1, "bdc628cc77c843581ecbc3c364e869674161199eb12f6fefc728580716de420e"),
]


@pytest.mark.parametrize("contents,expected", VECTORS)
def test_tophash_vectors(contents, expected):
    tree.validate(contents, root=True)
    assert tree.tophash(contents) == expected


def test_system_metadata_is_not_hashed():
    plain = VECTORS[3][0]
    with_metadata = {**plain, "children": {**plain["children"], "foo": table(H1, H2, metadata={"q_path": "x.csv"})}}
    assert tree.tophash(with_metadata) == tree.tophash(plain)


def test_names_are_sorted_by_code_point_and_length_counts_code_points():
    tree_ = {"type": "ROOT", "children": {"é": {"type": "GROUP", "children": {}}, "README": {"type": "GROUP", "children": {}}}}
    # README < é in code-point order; é is one code point but two UTF-8 bytes.
    expected = (b"\x00\x00\x00\x04ROOT" + b"\x00\x00\x00\x02"
                + b"\x00\x00\x00\x06README" + b"\x00\x00\x00\x05GROUP\x00\x00\x00\x00"
                + b"\x00\x00\x00\x01\xc3\xa9" + b"\x00\x00\x00\x05GROUP\x00\x00\x00\x00")
    import hashlib

    assert tree.tophash(tree_) == hashlib.sha256(expected).hexdigest()


def test_object_hashes_cover_data_and_metadata():
    contents = VECTORS[4][0]
    assert tree.object_hashes(contents) == {H3, META}
    assert tree.object_hashes(contents, meta_only=True) == {META}
    assert tree.object_hashes(VECTORS[3][0]) == {H1, H2, H3}


@pytest.mark.parametrize("contents", [vector[0] for vector in VECTORS] + [EXAMPLE_5_1])
def test_validation_answers_the_object_hashes(contents):
    """A push takes the fragments it needs from the validation's own walk."""
    assert tree.validate(contents, root=True) == tree.object_hashes(contents)


def test_subtree_and_invalid_subpath():
    assert tree.subtree(EXAMPLE_5_1, ["sub", "raw"])["type"] == "FILE"
    assert tree.subtree(EXAMPLE_5_1, []) is EXAMPLE_5_1
    with pytest.raises(NotFound, match="Invalid subpath: 'nope'"):
        tree.subtree(EXAMPLE_5_1, ["sub", "nope"])
    with pytest.raises(NotFound, match="Invalid subpath: 'deeper'"):
        tree.subtree(EXAMPLE_5_1, ["sub", "raw", "deeper"])


def test_readme_hash():
    assert tree.readme_hash(EXAMPLE_5_1) == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert tree.readme_hash(VECTORS[0][0]) is None


@pytest.mark.parametrize("contents,message", [
    ([], "valid 'type'"),
    ({"type": "GROUP", "children": {}}, "Unexpected node type"),
    ({"type": "ROOT"}, "'children' must be an object"),
    ({"type": "ROOT", "children": {}, "extra": 1}, "unexpected keys"),
    ({"type": "ROOT", "children": {"x": {"type": "ROOT", "children": {}}}}, "not a GROUP, FILE or TABLE"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": ["abc"]}}}, "'hashes' must be"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1.upper()]}}}, "'hashes' must be"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1], "size": 3}}}, "unexpected keys"),
    ({"type": "ROOT", "children": {"x": {"type": "TABLE", "hashes": [H1], "format": "HDF5"}}}, "format must be"),
    ({"type": "ROOT", "children": {"x": {"type": "GROUP"}}}, "'children' must be an object"),
    ({"type": "ROOT", "children": {"type": {"type": "GROUP", "children": {}}}}, "invalid child name"),
    ({"type": "ROOT", "children": {"a/b": {"type": "GROUP", "children": {}}}}, "invalid child name"),
    ({"type": "ROOT", "children": {"": {"type": "GROUP", "children": {}}}}, "invalid child name"),
    ({"type": "ROOT", "metadata_hash": "x", "children": {}}, "metadata_hash"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1], "metadata": {"a": {"type": 1}}}}},
     "without 'type' keys"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1], "metadata": {"type": "x"}}}},
     "without 'type' keys"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1], "metadata": {"a": [{"b": {"type": 0}}]}}}},
     "without 'type' keys"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [H1, 7]}}}, "'hashes' must be"),
    ({"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": "not a list"}}}, "'hashes' must be"),
    ({"type": "ROOT", "children": {"..": {"type": "GROUP", "children": {}}}}, "invalid child name"),
    ({"type": "ROOT", "children": {"a\nb": {"type": "GROUP", "children": {}}}}, "invalid child name"),
    ({"type": "ROOT", "children": {"n" * 256: {"type": "GROUP", "children": {}}}}, "invalid child name"),
])
def test_invalid_trees_are_rejected(contents, message):
    with pytest.raises(BadRequest, match=message):
        tree.validate(contents, root=True)


def test_a_bad_hash_among_many_is_named_by_its_path():
    """Hashes are checked together; the one bad among 2,000 is still found and named."""
    files = {f"f{i}": {"type": "FILE", "hashes": [H1], "metadata": {"q_path": f"f{i}", "n": i}} for i in range(1000)}
    group = {"type": "GROUP", "children": {f"g{i}": {"type": "FILE", "hashes": [H1, H1]} for i in range(500)}}
    group["children"]["g250"]["hashes"][1] = H1[:-1] + "G"
    contents = {"type": "ROOT", "children": {**files, "sub": group}}
    with pytest.raises(BadRequest, match="at /sub/g250: 'hashes' must be"):
        tree.validate(contents, root=True)
    group["children"]["g250"]["hashes"][1] = H1
    tree.validate(contents, root=True)
    group["children"]["bad/name"] = {"type": "FILE", "hashes": [H1]}
    with pytest.raises(BadRequest, match="at /sub: invalid child name 'bad/name'"):
        tree.validate(contents, root=True)


def test_depth_is_bounded():
    node = {"type": "FILE", "hashes": [H1]}
    for _ in range(tree.MAX_DEPTH + 2):
        node = {"type": "GROUP", "children": {"g": node}}
    with pytest.raises(BadRequest, match="deeper than"):
        tree.validate({"type": "ROOT", "children": {"g": node}}, root=True)


def test_subtrees_must_not_be_roots():
    tree.validate({"type": "GROUP", "children": {}}, root=False)
    with pytest.raises(BadRequest, match="Unexpected node type"):
        tree.validate({"type": "ROOT", "children": {}}, root=False)


@pytest.mark.parametrize("contents", [vector[0] for vector in VECTORS] + [EXAMPLE_5_1])
def test_the_tophash_walk_also_answers_every_fragment_reference(contents):
    """A push of changes takes the new tree's fragments from the tophash's own walk."""
    top_hash, found = tree.tophash_and_fragments(contents)
    assert top_hash == tree.tophash(contents)
    assert sorted(found) == sorted(tree.fragment_list(contents))
    assert set(found) == tree.object_hashes(contents)


def test_fragment_list_counts_each_reference():
    contents = {"type": "ROOT", "children": {
        "a": table(H1, H2), "b": table(H1), "g": {"type": "GROUP", "metadata_hash": META, "children": {
            "c": table(H1, metadata_hash=META)}}}}
    assert sorted(tree.fragment_list(contents)) == sorted([H1, H2, H1, META, H1, META])
