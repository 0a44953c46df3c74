"""The SDK's own tree module against protocol.md 7's vectors, the quilt builder's node names,
and the logical-key round trip. No server, no network."""

from __future__ import annotations

import hashlib
import json

import pytest

from registry_client.tree import (build_tree, child_node_names, identifier, metadata_fragment, object_hashes,
                                  read_tree, split_key, tophash)

H1 = "d146942c9a051553f77d1e00672f2829565c590be972a1330de726a8db223589"
H2 = "4cf37d7f670709346438cf2f2598db630eb34520947308aed55ad5e53f0c1518"
H3 = "46449f44f36ec78364ae846fa47df57870e49d3c6cee59b3682aaf289e6d7586"


def file(*hashes, **extra):
    return {"type": "FILE", "hashes": list(hashes), **extra}


def table(*hashes):
    return {"type": "TABLE", "hashes": list(hashes), "format": "PARQUET"}


def group(**children):
    return {"type": "GROUP", "children": children}


EXAMPLE_5_1 = {"type": "ROOT", "children": {
    "README": file("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
                   metadata={"q_ext": "id", "q_path": "README.md", "q_target": "file"}),
    "sub": group(
        data=file("4bec2375f7be038383af9de77ba0198469239bea14a50add18388b0b5780dec7",
                  metadata={"q_ext": "csv", "q_path": "sub/data.csv", "q_target": "pandas"}),
        raw=file("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
                 metadata={"q_ext": "id", "q_path": "sub/raw.bin", "q_target": "file"}))}}


@pytest.mark.parametrize(("tree", "expected"), [
    ({"type": "ROOT", "children": {}}, "3e659fce4c878d0ad00f6df85ca1aef2aa1bcef25137f030312f01f39d256a82"),
    ({"type": "ROOT", "children": {"foo": group()}},
     "c118d4aa439bbf240c484cf9ccfa625114969007107ff69fd2eb6a24165de035"),
    ({"type": "ROOT", "children": {"file": file(H3)}},
     "ede3e3b8d0d3df8503aa9b27d592b5e27281f929cb440a556a2d0c3c52a912e7"),
    ({"type": "ROOT", "children": {"foo": table(H1, H2), "group1": group(empty=table(), group2=group(bar=table(H1))),
                                   "file": file(H3, metadata={"q_path": "anything"})}},
     "a20597100b045f5420de46b7188590e8688bcfe2ac01e9cbefe26f8919b3f44d"),
    ({"type": "ROOT", "metadata_hash": "a" * 64, "children": {"f": file(H3, metadata_hash="a" * 64)}},
     "1016a04e06261c59f1636a3527c78ae4a71dc8fa6700019581adee2e427def54"),
    (EXAMPLE_5_1, "bdc628cc77c843581ecbc3c364e869674161199eb12f6fefc728580716de420e"),
])
def test_tophash_vectors(tree, expected):
    assert tophash(tree) == expected


def test_length_prefix_counts_code_points():
    # "é" is one code point but two UTF-8 bytes: the prefix says 1, as the published client hashes.
    tree = {"type": "ROOT", "children": {"é": group()}}
    stream = (b"\x00\x00\x00\x04ROOT\x00\x00\x00\x01" + b"\x00\x00\x00\x01" + "é".encode()
              + b"\x00\x00\x00\x05GROUP\x00\x00\x00\x00")
    assert tophash(tree) == hashlib.sha256(stream).hexdigest()


def test_object_hashes_include_metadata_hashes():
    tree = {"type": "ROOT", "metadata_hash": "b" * 64,
            "children": {"g": {**group(f=file(H1, H2)), "metadata_hash": "c" * 64}, "t": file(H1)}}
    assert object_hashes(tree) == {H1, H2, "b" * 64, "c" * 64}
    assert object_hashes(tree, meta_only=True) == {"b" * 64, "c" * 64}


def test_metadata_fragment_is_the_quilt_serialisation():
    meta = {"z": 1, "a": {"é": [1, 2.5, None]}, "b": True}
    assert metadata_fragment(meta) == json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    assert metadata_fragment(meta) == b'{"a":{"\\u00e9":[1,2.5,null]},"b":true,"z":1}'
    with pytest.raises(ValueError, match="_system"):
        metadata_fragment({"_system": {}})
    with pytest.raises(TypeError):
        metadata_fragment(["not", "an", "object"])


def test_identifier_matches_the_quilt_builder():
    assert identifier("Alice's Restaurant") == "Alice_s_Restaurant"
    assert identifier("9foo") == "n9foo"
    assert identifier("_private_") == "private"
    assert identifier("#if") is None  # a keyword: quilt's to_identifier gives up
    assert identifier("日本") is None


def test_child_node_names_follow_the_builder_and_fall_back_to_the_file_name():
    assert child_node_names({"README.md": False, "data.csv": False, "sub": True}) == {
        "README.md": "README", "data.csv": "data", "sub": "sub"}
    # Stems that clash take their full names, as `quilt build` does.
    assert child_node_names({"sales.csv": False, "sales.json": False}) == {
        "sales.csv": "sales_csv", "sales.json": "sales_json"}
    # No identifier, the reserved 'type', or a clash left over: the file keeps its own name.
    names = child_node_names({"日本.csv": False, "type.txt": False, "a-b.txt": False, "a_b.txt": False,
                              "class.csv": False})
    assert names == {"日本.csv": "日本.csv", "type.txt": "type.txt", "a-b.txt": "a-b.txt",
                     "a_b.txt": "a_b.txt", "class.csv": "class.csv"}
    assert child_node_names({"type": True}) == {"type": "type_2"}


def leaf(hash_, key):
    return file(hash_, metadata={"q_ext": "id", "q_path": key, "q_target": "file"})


def test_logical_keys_round_trip_through_the_tree():
    keys = ["README.md", "data/sales.csv", "data/sales.json", "data/日本.csv", "images/a b/1.png", "type"]
    leaves = {key: leaf(hashlib.sha256(key.encode()).hexdigest(), key) for key in keys}
    tree = build_tree(leaves, {"images": "d" * 64}, "e" * 64)
    assert sorted(tree["children"]) == ["README", "data", "images", "type_2"]
    assert sorted(tree["children"]["data"]["children"]) == ["sales_csv", "sales_json", "日本.csv"]
    assert tree["children"]["images"]["metadata_hash"] == "d" * 64
    assert tree["metadata_hash"] == "e" * 64
    files, dir_meta = read_tree(json.loads(json.dumps(tree)))
    assert files == leaves
    assert dir_meta == {"images": "d" * 64}


def test_trees_whose_q_paths_do_not_mirror_them_open_by_node_path():
    # A quilt build file may put any source file anywhere: then the node path is the key.
    tree = {"type": "ROOT", "children": {
        "foo": leaf(H1, "data/x.csv"), "g": group(bar=leaf(H2, "data/x.csv")),
        "h": {"type": "GROUP", "children": {"n": file(H3)}, "metadata_hash": "f" * 64}}}
    files, dir_meta = read_tree(tree)
    assert sorted(files) == ["foo", "g/bar", "h/n"]
    assert dir_meta == {"h": "f" * 64}


@pytest.mark.parametrize("key", ["", "/", "a//b", "a/./b", "../a", "a\\b", "a/\x01"])
def test_bad_logical_keys(key):
    with pytest.raises(ValueError):
        split_key(key)


def test_good_logical_keys():
    assert split_key("/data/sales.csv") == ["data", "sales.csv"]
    assert split_key("日本/a b.csv") == ["日本", "a b.csv"]
