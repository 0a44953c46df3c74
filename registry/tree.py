"""The quilt 2 package tree (protocol.md 5 and 7): validation, tophash, object hashes.

Pure functions over the JSON tree as pushed; no database, no Flask. Validation is structural
and strict, because the quilt client decodes every JSON object that has a `type` key as a node
(protocol.md 5.2): a tree that passes here is one every client can decode.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from typing import Any, Iterator

from .errors import BadRequest, NotFound

HASH_RE = re.compile(r"^[0-9a-f]{64}\Z")  # \Z: "$" would also match before a trailing newline
MAX_DEPTH = 64
MAX_NAME_LENGTH = 255

ROOT, GROUP, FILE, TABLE = "ROOT", "GROUP", "FILE", "TABLE"
_ALLOWED_KEYS = {
    ROOT: {"type", "children", "metadata_hash"},
    GROUP: {"type", "children", "metadata_hash"},
    FILE: {"type", "hashes", "metadata", "metadata_hash"},
    TABLE: {"type", "hashes", "format", "metadata", "metadata_hash"},
}


_CHILD_TYPES = (GROUP, FILE, TABLE)
_LEAF_TYPES = (FILE, TABLE)
_RESERVED_NAMES = frozenset((".", "..", "type"))
_BAD_NAME_CHARACTER = re.compile(r"[\x00-\x1f/]")
_COUNT = struct.Struct(">L")
_HASH_PREFIX = _COUNT.pack(64)
_TYPE_BYTES = {kind: _COUNT.pack(len(kind)) + kind.encode() for kind in _ALLOWED_KEYS}
_ONE_HASH_LEAF = {kind: _TYPE_BYTES[kind] + _COUNT.pack(1) + _HASH_PREFIX for kind in (FILE, TABLE)}


def is_hash(value: Any) -> bool:
    return isinstance(value, str) and HASH_RE.match(value) is not None


def are_hashes(values: list) -> bool:
    """`all(is_hash(v) for v in values)`, in C for the 100,000 keys of a push's sizes."""
    return set(map(type, values)) <= {str} and set(map(len, values)) <= {64} and is_lower_hex("".join(values))


def is_lower_hex(text: str) -> bool:
    """Whether `text` holds only the digits 0-9 and a-f (or nothing): a quarter of what a regular
    expression costs over the 6.4 MB of a push's 100,000 hashes joined."""
    return text.isascii() and not text.encode().translate(None, b"0123456789abcdef")


def validate(node: Any, *, root: bool, at: tuple[str, ...] = ()) -> set[str]:
    """Raise BadRequest unless `node` is a well-formed tree (a ROOT when `root`, else a subtree,
    which lies at the path `at` below the root: errors name the whole path, and the depth bound
    counts from the root); returns `object_hashes(node)`, met on the way. A path is only spelled
    out for an error: a 100,000-file tree is checked without building one, and its hashes are
    checked together at the end (one C pass; a bad one is then looked for)."""
    if not isinstance(node, dict) or node.get("type") not in _ALLOWED_KEYS:
        raise BadRequest(f"Invalid contents{_at(at)}: every node must be an object with a valid 'type'")
    if (node["type"] == ROOT) != root:
        raise BadRequest(f"Unexpected node type{_at(at)}")
    where = _place(at)
    hashes: list = []
    _check_nodes(node, hashes, where, len(at))
    if not are_hashes(hashes):
        _check_nodes(node, None, where, len(at))  # raises, naming the node
        raise BadRequest("Invalid contents: 'hashes' must be lists of SHA-256 hex digests")
    return set(hashes)


def _place(names: tuple[str, ...]) -> tuple | None:
    """The path `names` as _check_nodes keeps it: (parent's place, name), built only for errors."""
    where = None
    for name in names:
        where = (where, name)
    return where


def _at(names: tuple[str, ...]) -> str:
    return f" at /{'/'.join(names)}" if names else ""


def _check_nodes(node: dict, hashes: list | None, where: tuple | None = None, depth: int = 0) -> None:
    """Every node's structure; the hashes of leaves and metadata are added to `hashes` (leaves'
    unchecked), or checked one by one if it is None. `where` is the node's place (see _path), at
    `depth` below the root."""
    stack: list[tuple[dict, tuple | None, int]] = [(node, where, depth)]
    while stack:
        current, where, depth = stack.pop()
        _validate_node(current, where, hashes)
        if depth > MAX_DEPTH:
            raise BadRequest(f"Invalid contents: deeper than {MAX_DEPTH} levels")
        children = current.get("children")
        if not children:
            continue
        _check_names(children, where)
        for name, child in children.items():
            if not isinstance(child, dict) or child.get("type") not in _CHILD_TYPES:
                raise BadRequest(f"Invalid contents at {_path((where, name))}: not a GROUP, FILE or TABLE node")
            stack.append((child, (where, name), depth + 1))


def _check_names(children: dict, where: tuple | None) -> None:
    names = children.keys()
    if (_BAD_NAME_CHARACTER.search("".join(names)) is None and _RESERVED_NAMES.isdisjoint(names)
            and min(map(len, names)) > 0 and max(map(len, names)) <= MAX_NAME_LENGTH):
        return  # the usual case, checked for all names of the group at once
    for name in names:
        if not name or len(name) > MAX_NAME_LENGTH or name in _RESERVED_NAMES or _BAD_NAME_CHARACTER.search(name):
            raise BadRequest(f"Invalid contents at {_path(where)}: invalid child name {name!r}")


def _path(where: tuple | None) -> str:
    """`(parent, name)` links back to the root, as "/a/b" ("/" for the root)."""
    names = []
    while where is not None:
        where, name = where
        names.append(name)
    return "/" + "/".join(reversed(names))


def _validate_node(node: dict, where: tuple | None, collected: list | None) -> None:
    kind = node["type"]
    if not node.keys() <= _ALLOWED_KEYS[kind]:
        unknown = set(node) - _ALLOWED_KEYS[kind]
        raise BadRequest(f"Invalid contents at {_path(where)}: unexpected keys {sorted(unknown)}")
    if "metadata_hash" in node:
        if not is_hash(node["metadata_hash"]):
            raise BadRequest(f"Invalid contents at {_path(where)}: metadata_hash is not a SHA-256 hex digest")
        if collected is not None:
            collected.append(node["metadata_hash"])
    if kind in (ROOT, GROUP):
        if not isinstance(node.get("children"), dict):
            raise BadRequest(f"Invalid contents at {_path(where)}: 'children' must be an object")
        return
    hashes = node.get("hashes")
    if not isinstance(hashes, list) or (collected is None and not all(is_hash(h) for h in hashes)):
        raise BadRequest(f"Invalid contents at {_path(where)}: 'hashes' must be a list of SHA-256 hex digests")
    if collected is not None:
        collected.extend(hashes)
    if kind == TABLE and node.get("format") != "PARQUET":
        raise BadRequest(f"Invalid contents at {_path(where)}: a TABLE's format must be 'PARQUET'")
    if "metadata" in node:
        metadata = node["metadata"]
        if not isinstance(metadata, dict) or _has_type_key(metadata):
            raise BadRequest(f"Invalid contents at {_path(where)}: 'metadata' must be an object without 'type' keys")


_SCALARS = {str, int, float, bool, type(None)}


def _has_type_key(value: Any) -> bool:
    # Any object with a "type" key would be mistaken for a node by the client's decoder.
    if type(value) is dict and "type" not in value and set(map(type, value.values())) <= _SCALARS:
        return False  # the usual flat metadata, without a Python step per value
    stack = [value]  # an explicit stack: metadata may nest deeper than Python's recursion limit
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if "type" in current:
                return True
            stack.extend(v for v in current.values() if isinstance(v, (dict, list)))
        elif isinstance(current, list):
            stack.extend(v for v in current if isinstance(v, (dict, list)))
    return False


def tophash(root: dict) -> str:
    """SHA-256 over the depth-first walk of protocol.md 7 (assumes a validated tree). Leaves are
    written out as they are met and the bytes hashed in large pieces: a 100,000-file tree is
    one pass, not a million generator steps and digest updates."""
    return tophash_and_fragments(root)[0]


def tophash_and_fragments(root: dict) -> tuple[str, list[str]]:
    """The tophash and, from the same walk, `fragment_list(root)` (in another order)."""
    digest = hashlib.sha256()
    out: list[bytes] = []
    found: list[str] = []
    stack: list[bytes | dict] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        pending: list[bytes | dict] = []
        _emit_node(item, pending, found)
        stack.extend(reversed(pending))
        if len(out) > 65536:
            digest.update(b"".join(out))
            out.clear()
    digest.update(b"".join(out))
    return digest.hexdigest(), found


def _emit_node(node: dict, out: list, found: list[str]) -> None:
    """A node's bytes in order; a group's child groups stay dicts, expanded by the caller. The
    fragments met are added to `found`."""
    kind = node["type"]
    out.append(_TYPE_BYTES[kind])
    if kind in _LEAF_TYPES:
        hashes = node["hashes"]
        found.extend(hashes)
        out.append(_COUNT.pack(len(hashes)))
        out.extend(_HASH_PREFIX + h.encode() for h in hashes)  # validated: 64 ASCII characters
    else:
        children = node["children"]
        out.append(_COUNT.pack(len(children)))
        for name in sorted(children):
            child = children[name]
            kind = child["type"]
            if kind in _LEAF_TYPES and "metadata_hash" not in child and len(child["hashes"]) == 1:
                # The usual file, in one piece: its bytes at once.
                only = child["hashes"][0]
                found.append(only)
                out.append(_str(name) + _ONE_HASH_LEAF[kind] + only.encode())
                continue
            out.append(_str(name))
            if kind in _LEAF_TYPES:
                _emit_node(child, out, found)
            else:
                out.append(child)
    if "metadata_hash" in node:
        found.append(node["metadata_hash"])
        out.append(_str(node["metadata_hash"]))


def _str(value: str) -> bytes:
    # The length prefix counts code points, not bytes: that is what the client hashes.
    return _COUNT.pack(len(value)) + value.encode("utf-8")


def walk(node: dict) -> Iterator[dict]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.get("children", {}).values())

def object_hashes(node: dict, *, meta_only: bool = False) -> set[str]:
    """Every fragment the (sub)tree references: data hashes and metadata hashes (protocol.md 5.3).
    A group's leaves are taken together (no Python step per leaf beyond two list entries)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if "metadata_hash" in current:
            found.add(current["metadata_hash"])
        children = current.get("children")
        if children is None:
            if not meta_only:
                found.update(current["hashes"])
            continue
        leaves = [child for child in children.values() if "children" not in child]
        stack.extend(child for child in children.values() if "children" in child)
        if not meta_only:
            found.update(itertools.chain.from_iterable([leaf["hashes"] for leaf in leaves]))
        found.update([leaf["metadata_hash"] for leaf in leaves if "metadata_hash" in leaf])
    return found


def fragment_list(node: dict) -> list[str]:
    """Every fragment reference of the (sub)tree, a fragment as often as it is referenced: the
    multiset whose set is `object_hashes(node)`."""
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if "metadata_hash" in current:
            found.append(current["metadata_hash"])
        if "children" in current:
            stack.extend(current["children"].values())
        else:
            found.extend(current["hashes"])
    return found


def subtree(root: dict, subpath: list[str]) -> dict:
    node = root
    for component in subpath:
        children = node.get("children")
        if children is None or component not in children:
            raise NotFound(f"Invalid subpath: '{component}'")
        node = children[component]
    return node

def apply_changes(root: dict, changes: dict[str, Any]) -> list[dict]:
    """Change a validated tree in place: each path ("/"-joined child names below the root) is
    set to its node (a subtree, validated here), or removed where the node is None. A path's
    parent must be a group of the tree, and no path may lie inside another, so the order of the
    changes does not matter. Replaced children keep their place; new ones come last. Answers
    the nodes replaced or removed."""
    paths = sorted(changes)
    replaced: list[dict] = []
    for outer, inner in zip(paths, paths[1:]):
        if inner.startswith(outer + "/"):
            raise BadRequest(f"Invalid change at /{inner}: it lies inside the change at /{outer}")
    for path in paths:
        names = tuple(path.split("/"))
        if len(names) > MAX_DEPTH:
            raise BadRequest(f"Invalid contents: deeper than {MAX_DEPTH} levels")
        parent = root
        for depth, name in enumerate(names[:-1], start=1):
            parent = parent["children"].get(name)
            if parent is None or parent["type"] != GROUP:
                raise BadRequest(f"Invalid change at /{path}: /{'/'.join(names[:depth])} is not a group")
        node = changes[path]
        if node is None:
            removed = parent["children"].pop(names[-1], None)
            if removed is None:
                raise BadRequest(f"Invalid change at /{path}: there is nothing to remove")
            replaced.append(removed)
            continue
        _check_names({names[-1]: node}, _place(names[:-1]))
        validate(node, root=False, at=names)
        old = parent["children"].get(names[-1])
        if old is not None:
            replaced.append(old)
        parent["children"][names[-1]] = node
    return replaced


def same_names(root: dict, changes: dict[str, Any]) -> bool:
    """Whether `changes` keep every name of the tree (so its search keywords): each puts a leaf
    where a leaf of that name is now."""
    for path, node in changes.items():
        current = root
        for name in path.split("/"):
            current = current.get("children", {}).get(name) if isinstance(current, dict) else None
        if current is None or current["type"] not in _LEAF_TYPES or not isinstance(node, dict) \
                or node.get("type") not in _LEAF_TYPES:
            return False
    return True


def readme_hash(root: dict) -> str | None:
    """The package README: a FILE named README directly under the root (protocol.md 5.1)."""
    readme = root["children"].get("README")
    if readme and readme["type"] == FILE and readme["hashes"]:
        return readme["hashes"][0]
    return None


def node_names(root: dict) -> set[str]:
    """Every child name in the tree, lower-cased (what search matches besides name and README).
    A group's names are lower-cased at once: no name holds a newline (see _BAD_NAME_CHARACTER)."""
    found: set[str] = set()
    stack = [root]
    while stack:
        children = stack.pop().get("children")
        if children:
            found.update("\n".join(children).lower().split("\n"))
            stack.extend(child for child in children.values() if "children" in child)
    return found
