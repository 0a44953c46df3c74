"""The quilt 2 package tree (protocol.md 5 and 7): validation, tophash, object hashes.

Pure functions over the JSON tree as pushed; no database, no Flask. Validation is structural
and strict, because the quilt client decodes every JSON object that has a `type` key as a node
(protocol.md 5.2): a tree that passes here is one every client can decode.
"""

from __future__ import annotations

import hashlib
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

def is_hash(value: Any) -> bool:
    return isinstance(value, str) and HASH_RE.match(value) is not None

def validate(node: Any, *, root: bool) -> None:
    """Raise BadRequest unless `node` is a well-formed tree (a ROOT when `root`, else a subtree)."""
    if not isinstance(node, dict) or node.get("type") not in _ALLOWED_KEYS:
        raise BadRequest("Invalid contents: every node must be an object with a valid 'type'")
    if (node["type"] == ROOT) != root:
        raise BadRequest("Unexpected node type")
    stack = [(node, "", 0)]
    while stack:
        current, path, depth = stack.pop()
        _validate_node(current, path or "/")
        if depth > MAX_DEPTH:
            raise BadRequest(f"Invalid contents: deeper than {MAX_DEPTH} levels")
        for name, child in current.get("children", {}).items():
            _validate_child_name(name, path)
            if not isinstance(child, dict) or child.get("type") not in (GROUP, FILE, TABLE):
                raise BadRequest(f"Invalid contents at {path}/{name}: not a GROUP, FILE or TABLE node")
            stack.append((child, f"{path}/{name}", depth + 1))

def _validate_node(node: dict, path: str) -> None:
    kind = node["type"]
    unknown = set(node) - _ALLOWED_KEYS[kind]
    if unknown:
        raise BadRequest(f"Invalid contents at {path}: unexpected keys {sorted(unknown)}")
    if "metadata_hash" in node and not is_hash(node["metadata_hash"]):
        raise BadRequest(f"Invalid contents at {path}: metadata_hash is not a SHA-256 hex digest")
    if kind in (ROOT, GROUP):
        if not isinstance(node.get("children"), dict):
            raise BadRequest(f"Invalid contents at {path}: 'children' must be an object")
        return
    hashes = node.get("hashes")
    if not isinstance(hashes, list) or not all(is_hash(h) for h in hashes):
        raise BadRequest(f"Invalid contents at {path}: 'hashes' must be a list of SHA-256 hex digests")
    if kind == TABLE and node.get("format") != "PARQUET":
        raise BadRequest(f"Invalid contents at {path}: a TABLE's format must be 'PARQUET'")
    if "metadata" in node:
        if not isinstance(node["metadata"], dict) or _has_type_key(node["metadata"]):
            raise BadRequest(f"Invalid contents at {path}: 'metadata' must be an object without 'type' keys")

def _has_type_key(value: Any) -> bool:
    # Any object with a "type" key would be mistaken for a node by the client's decoder.
    stack = [value]  # an explicit stack: metadata may nest deeper than Python's recursion limit
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if "type" in current:
                return True
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False

def _validate_child_name(name: str, path: str) -> None:
    if (not name or name in (".", "..", "type") or len(name) > MAX_NAME_LENGTH
            or "/" in name or any(ord(c) < 32 for c in name)):
        raise BadRequest(f"Invalid contents at {path or '/'}: invalid child name {name!r}")

def tophash(root: dict) -> str:
    """SHA-256 over the depth-first walk of protocol.md 7 (assumes a validated tree)."""
    digest = hashlib.sha256()
    for chunk in _emit(root):
        digest.update(chunk)
    return digest.hexdigest()

def _str(value: str) -> bytes:
    # The length prefix counts code points, not bytes: that is what the client hashes.
    return struct.pack(">L", len(value)) + value.encode("utf-8")

def _emit(root: dict) -> Iterator[bytes]:
    # Depth first without recursion: the stack holds bytes still to emit and nodes still to expand.
    stack: list[bytes | dict] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            yield item
            continue
        parts: list[bytes | dict] = [_str(item["type"])]
        if item["type"] in (FILE, TABLE):
            parts.append(struct.pack(">L", len(item["hashes"])))
            parts.extend(_str(h) for h in item["hashes"])
        else:
            children = item["children"]
            parts.append(struct.pack(">L", len(children)))
            for name in sorted(children):
                parts += (_str(name), children[name])
        if "metadata_hash" in item:
            parts.append(_str(item["metadata_hash"]))
        stack.extend(reversed(parts))

def walk(node: dict) -> Iterator[dict]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.get("children", {}).values())

def object_hashes(node: dict, *, meta_only: bool = False) -> set[str]:
    """Every fragment the (sub)tree references: data hashes and metadata hashes (protocol.md 5.3)."""
    found: set[str] = set()
    for current in walk(node):
        if "metadata_hash" in current:
            found.add(current["metadata_hash"])
        if not meta_only:
            found.update(current.get("hashes", ()))
    return found

def subtree(root: dict, subpath: list[str]) -> dict:
    node = root
    for component in subpath:
        children = node.get("children")
        if children is None or component not in children:
            raise NotFound(f"Invalid subpath: '{component}'")
        node = children[component]
    return node

def readme_hash(root: dict) -> str | None:
    """The package README: a FILE named README directly under the root (protocol.md 5.1)."""
    readme = root["children"].get("README")
    if readme and readme["type"] == FILE and readme["hashes"]:
        return readme["hashes"][0]
    return None


def node_names(root: dict) -> Iterator[str]:
    """Every child name in the tree, lower-cased (what search matches besides name and README)."""
    for node in walk(root):
        for name in node.get("children", {}):
            yield name.lower()
