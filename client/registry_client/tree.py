"""The quilt 2 node tree (protocol.md 5 and 7), written independently of the server.

A package is a set of logical keys ("data/sales.csv"). On the wire it is a tree: folders are GROUP
nodes, files are FILE nodes, and each file's logical key is kept in `metadata.q_path` (not hashed).
Node names follow the quilt builder, so `quilt install`/`export` and attribute access in the
published client work, and a folder gets the same tophash as `quilt build` of that folder.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import os
import re
import struct
from typing import Any, Iterator

ROOT, GROUP, FILE, TABLE = "ROOT", "GROUP", "FILE", "TABLE"
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_IDENTIFIER_RE = re.compile(r"^[a-zA-Z_]\w*$", re.ASCII)
MAX_NAME_LENGTH = 255
SYSTEM_METADATA = "_system"  # the published client adds this key to user metadata when loading


def is_hash(value: Any) -> bool:
    return isinstance(value, str) and HASH_RE.match(value) is not None


# --- tophash and fragments ------------------------------------------------------------------

def tophash(root: dict) -> str:
    digest = hashlib.sha256()
    for chunk in _emit(root):
        digest.update(chunk)
    return digest.hexdigest()


def _str(value: str) -> bytes:
    # The length prefix counts code points, not bytes, as the published client does.
    return struct.pack(">L", len(value)) + value.encode("utf-8")


def _emit(node: dict) -> Iterator[bytes]:
    yield _str(node["type"])
    if node["type"] in (FILE, TABLE):
        yield struct.pack(">L", len(node["hashes"]))
        for value in node["hashes"]:
            yield _str(value)
    else:
        children = node["children"]
        yield struct.pack(">L", len(children))
        for name in sorted(children):
            yield _str(name)
            yield from _emit(children[name])
    if node.get("metadata_hash") is not None:
        yield _str(node["metadata_hash"])


def object_hashes(node: dict, *, meta_only: bool = False) -> set[str]:
    """Every fragment a (sub)tree references: data hashes and metadata hashes (protocol.md 5.3)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.get("metadata_hash"):
            found.add(current["metadata_hash"])
        if not meta_only:
            found.update(current.get("hashes", ()))
        stack.extend(current.get("children", {}).values())
    return found


def changes(base: dict, new: dict) -> dict[str, dict | None] | None:
    """What turns the tree `base` into `new` (PUT /api/v2/package): each child that changed or
    came, whole, under its "/"-joined path, and None for each that went. A folder whose own
    fields are unchanged is compared child by child. None when the roots' own fields differ
    (the package's metadata): that push goes whole."""
    if _own_fields(base) != _own_fields(new):
        return None
    found: dict[str, dict | None] = {}
    stack: list[tuple[dict, dict, str]] = [(base, new, "")]
    while stack:
        old_node, new_node, prefix = stack.pop()
        old_children, new_children = old_node["children"], new_node["children"]
        for name in old_children.keys() - new_children.keys():
            found[prefix + name] = None
        for name, child in new_children.items():
            old = old_children.get(name)
            if old == child:
                continue
            if old is not None and old.get("type") == child.get("type") == "GROUP" and \
                    _own_fields(old) == _own_fields(child):
                stack.append((old, child, f"{prefix}{name}/"))
            else:
                found[prefix + name] = child
    return found


def _own_fields(node: dict) -> dict:
    return {key: value for key, value in node.items() if key != "children"}


def metadata_fragment(meta: dict) -> bytes:
    """User metadata as the published client stores it: sorted keys, no whitespace, ASCII."""
    if not isinstance(meta, dict):
        raise TypeError("metadata must be a JSON object (a dict)")
    if SYSTEM_METADATA in meta:
        raise ValueError(f"the key {SYSTEM_METADATA!r} is reserved by the quilt client")
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("ascii")


# --- node names --------------------------------------------------------------------------------

def identifier(name: str) -> str | None:
    """The quilt builder's `to_identifier`, or None where it would give up."""
    result = re.sub(r"[^0-9a-zA-Z_]", "_", name).strip("_")
    if result and result[0].isdigit():
        result = "n" + result
    if not _IDENTIFIER_RE.match(result) or keyword.iskeyword(result):
        return None
    return result


def is_node_name(name: str) -> bool:
    """What the registry accepts as a child name."""
    return (bool(name) and name not in (".", "..", "type") and len(name) <= MAX_NAME_LENGTH
            and "/" not in name and not any(ord(c) < 32 for c in name))


def child_node_names(children: dict[str, bool]) -> dict[str, str]:
    """Node names for one folder's entries ({name: is_folder}), chosen like `quilt build`: the file
    name without its extension (the full name when two stems clash) made an identifier. Where
    that fails (no identifier, 'type', still a clash) the entry keeps its own name."""
    stems: dict[str | None, list[str]] = {}
    for name, is_folder in children.items():
        stems.setdefault(identifier(name if is_folder else os.path.splitext(name)[0]), []).append(name)
    preferred: dict[str, str | None] = {}
    for stem, names in stems.items():
        for name in names:
            clash = stem and len(names) > 1 and not children[name] and os.path.splitext(name)[1]
            preferred[name] = identifier(name) if clash else stem
    counts: dict[str | None, int] = {}
    for candidate in preferred.values():
        counts[candidate] = counts.get(candidate, 0) + 1
    result, used = {}, set()
    for name, candidate in preferred.items():
        if candidate and candidate != "type" and counts[candidate] == 1:
            result[name] = candidate
            used.add(candidate)
    for name in sorted(set(children) - set(result)):
        candidate, n = name, 1
        while candidate in used or not is_node_name(candidate):
            n += 1
            candidate = f"{name[:MAX_NAME_LENGTH - 8]}_{n}"
        result[name] = candidate
        used.add(candidate)
    return result


# --- logical keys <-> tree -------------------------------------------------------------------

def build_tree(leaves: dict[str, dict], dir_meta: dict[str, str], root_meta: str | None) -> dict:
    """The ROOT for {logical key: FILE/TABLE node}, with GROUP metadata hashes by folder key."""
    folders: dict[str, dict[str, bool]] = {"": {}}
    for key in leaves:
        parts = key.split("/")
        for depth in range(len(parts)):
            parent = "/".join(parts[:depth])
            folders.setdefault(parent, {})[parts[depth]] = depth < len(parts) - 1
    names = {folder: child_node_names(children) for folder, children in folders.items()}
    root: dict = {"type": ROOT, "children": {}}
    if root_meta:
        root["metadata_hash"] = root_meta
    for key in sorted(leaves):
        parts, node, folder = key.split("/"), root, ""
        for part in parts[:-1]:
            child_key = f"{folder}/{part}" if folder else part
            group = node["children"].setdefault(names[folder][part], {"type": GROUP, "children": {}})
            if dir_meta.get(child_key):
                group["metadata_hash"] = dir_meta[child_key]
            node, folder = group, child_key
        node["children"][names[folder][parts[-1]]] = leaves[key]
    return root


def read_tree(root: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """({logical key: leaf node}, {folder key: metadata hash}) of a tree. The keys are the files'
    q_paths when they mirror the tree (every package the SDK or `quilt build` of a folder makes);
    otherwise the node paths, so that any tree opens."""
    leaves, groups, stack = [], [], [((), root)]
    while stack:
        path, node = stack.pop()
        if node["type"] in (FILE, TABLE):
            leaves.append((path, node))
            continue
        if path and node.get("metadata_hash"):
            groups.append((path, node["metadata_hash"]))
        stack.extend((path + (name,), child) for name, child in node["children"].items())
    mapping = _q_path_mapping(leaves)
    if mapping is None:
        keys = {path: "/".join(path) for path, _ in leaves}
        folders = {path: "/".join(path) for path, _ in groups}
    else:
        keys, folders = mapping
    files = {keys[path]: node for path, node in leaves}
    dir_meta = {folders[path]: meta for path, meta in groups if path in folders}
    return files, dir_meta


def _q_path_mapping(leaves) -> tuple[dict, dict] | None:
    keys: dict[tuple, str] = {}
    folders: dict[tuple, str] = {}
    for path, node in leaves:
        q_path = (node.get("metadata") or {}).get("q_path")
        parts = q_path.replace("\\", "/").split("/") if isinstance(q_path, str) else []
        if len(parts) != len(path) or not all(_is_key_part(part) for part in parts):
            return None
        for depth in range(1, len(path)):
            if folders.setdefault(path[:depth], "/".join(parts[:depth])) != "/".join(parts[:depth]):
                return None
        keys[path] = "/".join(parts)
    if len(set(keys.values())) != len(keys) or len(set(folders.values())) != len(folders):
        return None
    if set(keys.values()) & set(folders.values()):
        return None
    return keys, folders


def _is_key_part(part: str) -> bool:
    return bool(part) and part not in (".", "..") and "\\" not in part and not any(ord(c) < 32 for c in part)


def split_key(key: str) -> list[str]:
    """The parts of a logical key; ValueError when it cannot name a file in a package."""
    if not isinstance(key, str):
        raise ValueError("a logical key must be a string")
    parts = key.strip("/").split("/")
    if not key.strip("/") or not all(_is_key_part(p) and len(p) <= MAX_NAME_LENGTH for p in parts):
        raise ValueError(f"{key!r} is not a valid logical key: use names separated by '/', "
                         "without empty, '.', '..' or backslash parts")
    return parts
