"""Package: build a data package from files and folders, push it, browse and install it."""

from __future__ import annotations

import copy
import json
import os
import posixpath
from pathlib import Path
from typing import Callable

from . import api
from .client import Client, resolve
from .entries import Origin, PackageDir, PackageEntry
from .errors import Conflict, Forbidden, IntegrityError, NotFound, PathNotFound, TransferError, UsageError
from .store import ObjectStore
from .uploads import Planned, PlannedUploads, part_sizer
from .tree import FILE, build_tree, changes, metadata_fragment, object_hashes, read_tree, split_key, tophash

RAW_FILE = {"q_ext": "id", "q_target": "file"}  # what `quilt build` records for a file kept as is
DATA_SUFFIXES = {"pandas": ".parquet", "numpy": ".npy"}  # what quilt stored DataFrames/arrays as
LOCAL = "local"  # Package.browse(name, registry="local"): what build() or install() left on this machine


def _parts(key: str) -> list[str]:
    try:
        return split_key(key)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class Package(PackageDir):
    """A data package: files at logical keys ("data/sales.csv"), each with optional metadata,
    plus package metadata. `top_hash` is set once it is built, pushed or browsed."""

    def __init__(self):
        super().__init__()
        self.top_hash: str | None = None
        self._contents: dict | None = None  # the tree as browsed from a registry

    # Editing

    def set(self, logical_key: str, entry: str | os.PathLike | bytes | PackageEntry | None = None,
            meta: dict | None = None) -> "Package":
        """Put a file (a path; `logical_key` itself when omitted), bytes, an object already in S3
        (`s3://bucket/key`, `?versionId=` for one version: the registry copies it when the package
        is pushed) or another package's entry at `logical_key`."""
        parts = _parts(logical_key)
        if entry is None:
            entry = logical_key
        if isinstance(entry, PackageEntry):
            new = copy.copy(entry)
        elif isinstance(entry, (bytes, bytearray)):
            new = PackageEntry(source=bytes(entry), size=len(entry))
        elif isinstance(entry, str) and entry.startswith("s3://"):
            new = PackageEntry(source=entry)  # copied into the registry's store by the push (no download)
        elif isinstance(entry, (str, os.PathLike)):
            path = Path(entry).expanduser()
            if not path.is_file():
                raise PathNotFound(f"No file at {str(entry)!r}.",
                                   "Check the path; to add a whole folder use set_dir().")
            new = PackageEntry(source=path.resolve(), size=path.stat().st_size)
        else:
            raise UsageError(f"Cannot put a {type(entry).__name__} in a package: give a path, bytes or an entry.")
        if meta is not None:
            new.set_meta(meta)
        self._insert(parts, new)
        return self

    def set_dir(self, logical_key: str, path: str | os.PathLike, meta: dict | None = None) -> "Package":
        """Put every file under the folder `path` below `logical_key` ("" or "/" for the top)."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise PathNotFound(f"No folder at {str(path)!r}.", "Check the path; to add one file use set().")
        prefix = _parts(logical_key) if logical_key.strip("/") not in ("", ".") else []
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.set("/".join(prefix + list(file.relative_to(folder).parts)), file)
        if meta is not None:
            target = self[("/".join(prefix))] if prefix and "/".join(prefix) in self else self
            if isinstance(target, PackageDir):
                target.set_meta(meta)
        return self

    def _insert(self, parts: list[str], entry: PackageEntry) -> None:
        node: PackageDir = self
        for depth, part in enumerate(parts[:-1]):
            child = node._children.setdefault(part, PackageDir())
            if isinstance(child, PackageEntry):
                raise UsageError(f"{'/'.join(parts[:depth + 1])!r} is a file, so it cannot hold {'/'.join(parts)!r}.")
            node = child
        if isinstance(node._children.get(parts[-1]), PackageDir):
            raise UsageError(f"{'/'.join(parts)!r} is a folder: delete it before putting a file there.")
        entry._name = parts[-1]
        node._children[parts[-1]] = entry

    def delete(self, logical_key: str) -> "Package":
        """Remove a file or a whole folder."""
        *parents, name = _parts(logical_key)
        parent = self["/".join(parents)] if parents else self
        if not isinstance(parent, PackageDir) or name not in parent._children:
            raise KeyError(logical_key)
        del parent._children[name]
        return self

    # Building and pushing

    def _dirs(self, node: PackageDir | None = None, prefix: str = ""):
        for name, child in (node or self).items():
            if isinstance(child, PackageDir):
                key = f"{prefix}{name}"
                yield key, child
                yield from self._dirs(child, key + "/")

    def _manifest(self, client: Client, add_file: Callable[[Path], tuple[str, int]]) -> tuple[str, dict]:
        store = client.store

        def fragment(meta: dict) -> str | None:
            return store.add_bytes(metadata_fragment(meta))[0] if meta else None

        leaves = {}
        for key, entry in self.walk():
            _store_entry(entry, client, add_file)
            node = copy.deepcopy(entry._node) if entry._node else {"type": FILE, "metadata": dict(RAW_FILE)}
            node.pop("metadata_hash", None)
            node["hashes"] = list(entry.hashes)
            node["metadata"] = {**(node.get("metadata") or {}), "q_path": _q_path(key, entry)}
            if meta_hash := fragment(entry._meta):
                node["metadata_hash"] = meta_hash
            leaves[key] = node
        dir_meta = {key: fragment(folder._meta) for key, folder in self._dirs() if folder._meta}
        root = build_tree(leaves, dir_meta, fragment(self._meta))
        return tophash(root), root

    def build(self, name: str, *, client: Client | None = None) -> str:
        """Save the package in the local store only (no registry), its files copied in, so that it
        no longer depends on them; returns its top hash."""
        client = resolve(client)
        return self._build(name, client, client.store.add_file)[0]

    def _build(self, name: str, client: Client, add_file: Callable[[Path], tuple[str, int]]) -> tuple[str, dict]:
        api.parse_name(name)
        self.top_hash, contents = self._manifest(client, add_file)
        client.store.save_manifest(name, self.top_hash, contents)
        return self.top_hash, contents

    def push(self, name: str, registry: str | None = None, message: str | None = None, *,
             public: bool = False, team: bool = False, client: Client | None = None) -> str:
        """Upload the package's new fragments and create the push in the registry; `latest` moves
        to it. `public`/`team` share a package the first time it is pushed. Returns the top hash."""
        owner, package = api.parse_name(name)
        client = resolve(client)
        session = client.session(registry)
        imported = self._import_s3_sources(session, owner, package)
        # Files are hashed where they are, not copied (the upload reads them, and blob storage
        # checks every byte), with the parts of those that go up in parts in the same read.
        sizer = part_sizer(session)
        browsed = self._contents
        top_hash, contents = self._build(
            name, client, lambda path: client.store.add_file(path, copy=False, part_size=sizer))
        hashes = object_hashes(contents)
        origins = {h: e._origin for _, e in self.walk() for h in (e.hashes or ()) if e._origin}
        sizes = {h: imported[h] if h in imported else _size(client.store, h, origins) for h in hashes}
        sharing = {"is_public": public, "is_team": team, **({"message": message} if message else {})}
        base = _pushed_base(client, session, name, contents, browsed)
        if base is not None:
            # Only what changed since the registry's `latest` (which this machine has) goes up.
            base_hash, changed, new = base
            try:
                self._upload(client, session, name, {h: sizes[h] for h in new}, origins)
                session.request("PUT", f"/api/v2/package/{owner}/{package}/{top_hash}", compress=True, json_body={
                    "base": base_hash, "changes": changed, "sizes": {h: sizes[h] for h in new}, **sharing})
                return top_hash
            except (Conflict, NotFound):
                pass  # the base went meanwhile, or a registry without changes: the whole push says why
            except UsageError as exc:
                if exc.status != 405:
                    raise
        self._upload(client, session, name, sizes, origins)
        session.request("PUT", f"/api/package/{owner}/{package}/{top_hash}", compress=True, json_body={
            "dry_run": False, "description": "", "contents": contents, "sizes": sizes, **sharing})
        return top_hash

    def _upload(self, client: Client, session, name: str, sizes: dict[str, int], origins: dict) -> None:
        """The fragments of `sizes` the registry does not hold yet go up, as its push plan says."""
        if not sizes:
            return
        owner, package = api.parse_name(name)
        try:
            plan = session.request("POST", f"/api/v2/push-plan/{owner}/{package}",
                                   json_body={"fragments": sizes}, compress=True)["fragments"]
        except (Forbidden, NotFound) as exc:  # the registry hides others' packages behind a 404
            exc.message = f"Cannot push to {name}: {exc.message}"
            exc.hint = (f"New packages go under your own user name; to push to {name}, its owner "
                        f"({owner}) must share it with the team (access add {name} team).")
            raise
        if set(plan) != set(sizes):
            raise TransferError("The registry answered the push plan for other fragments than the package has.")
        PlannedUploads(client.transfers(), session, owner, package, client.store).run(
            [Planned(h, client.store.locate(h), sizes[h], plan[h],
                     ensure=(lambda h=h: origins[h].ensure_local({h})) if h in origins else None)
             for h in sorted(sizes)], label=f"Pushing {name}")

    def _import_s3_sources(self, session, owner: str, package: str) -> dict[str, int]:
        """Have the registry copy every s3:// entry into its store; returns their hashes and sizes."""
        imported = {}
        for _, entry in self.walk():
            if isinstance(entry._source, str):
                answer = session.request("POST", f"/api/v2/imports/{owner}/{package}",
                                         json_body={"source": entry._source})
                entry._source, entry.hashes, entry.size = None, [answer["hash"]], answer["size"]
                imported[answer["hash"]] = answer["size"]
        return imported

    # Reading

    @classmethod
    def browse(cls, name: str, registry: str | None = None, top_hash: str | None = None, tag: str | None = None,
               version: str | None = None, *, client: Client | None = None) -> "Package":
        """The manifest and metadata of a push (default: tag `latest`); file data is downloaded
        only when fetched. registry="local" opens what build() or install() saved here."""
        owner, package = api.parse_name(name)
        client = resolve(client)
        if registry == LOCAL:
            found = client.store.load_manifest(name, top_hash)
            if found is None:
                which = f"{name}@{top_hash}" if top_hash else name
                raise NotFound(f"{which} was not built or installed on this machine.",
                               "Build it with Package.build(), or install it from a registry.")
            return cls._from_tree(found[1], found[0], client, None)
        session = client.session(registry)
        top_hash = api.resolve_top_hash(session, name, top_hash, tag, version)
        answer = session.request("GET", f"/api/package/{owner}/{package}/{top_hash}",
                                 params={"subpath": "", "meta_only": ""})
        if tophash(answer["contents"]) != top_hash:
            raise IntegrityError(f"The registry sent a manifest for {name} that does not match {top_hash}.",
                                 "Try again; if it persists, tell the registry's administrator.")
        origin = Origin(client, session.url, name, top_hash, answer["urls"], answer["sizes"])
        origin.ensure_local(object_hashes(answer["contents"], meta_only=True), label=f"Metadata of {name}")
        return cls._from_tree(answer["contents"], top_hash, client, origin)

    @classmethod
    def _from_tree(cls, contents: dict, top_hash: str, client: Client, origin: Origin | None) -> "Package":
        files, dir_meta = read_tree(contents)
        pkg = cls()
        pkg.top_hash, pkg._contents = top_hash, contents
        pkg._meta = _load_meta(client.store, contents.get("metadata_hash"))
        sizes = origin.sizes if origin else {}
        for key, node in sorted(files.items()):
            parts = [sizes[h] if h in sizes else client.store.size(h) if client.store.has(h) else None
                     for h in node["hashes"]]
            entry = PackageEntry(hashes=list(node["hashes"]), size=None if None in parts else sum(parts),
                                 node=node, origin=origin, client=client)
            entry._meta = _load_meta(client.store, node.get("metadata_hash"))
            suffix = DATA_SUFFIXES.get(entry.target)
            if suffix and posixpath.splitext(key)[1] != suffix and posixpath.splitext(key)[0] + suffix not in files:
                key = posixpath.splitext(key)[0] + suffix  # name a DataFrame by what fetch() writes
            pkg._insert(key.split("/"), entry)
        for key, meta_hash in dir_meta.items():
            if key in pkg and isinstance(pkg[key], PackageDir):
                pkg[key]._meta = _load_meta(client.store, meta_hash)
        return pkg

    @classmethod
    def install(cls, name: str, registry: str | None = None, dest: str | os.PathLike | None = None,
                top_hash: str | None = None, tag: str | None = None, version: str | None = None, *,
                client: Client | None = None) -> "Package":
        """Download a push (default: tag `latest`) and write its files under `dest` (default:
        ./NAME). Fragments already in the local store are not downloaded again."""
        client = resolve(client)
        pkg = cls.browse(name, registry, top_hash=top_hash, tag=tag, version=version, client=client)
        pkg.fetch(Path(dest) if dest is not None else Path.cwd() / name.split("/")[1])
        # The manifest as received, so that browse(registry="local") finds it offline.
        client.store.save_manifest(name, pkg.top_hash, pkg._contents)
        return pkg

    def __repr__(self) -> str:
        return f"Package(top_hash={self.top_hash!r}, {sum(1 for _ in self.walk())} files)"


def _q_path(key: str, entry: PackageEntry) -> str:
    """The logical key, except that a DataFrame quilt built keeps its source's suffix (so that
    `quilt export` writes "sales.csv", and the SDK reads "sales.parquet" again)."""
    source = ((entry._node or {}).get("metadata") or {}).get("q_path")
    if entry.target in DATA_SUFFIXES and isinstance(source, str):
        return posixpath.splitext(key)[0] + posixpath.splitext(source.replace("\\", "/"))[1]
    return key


def _store_entry(entry: PackageEntry, client: Client, add_file: Callable[[Path], tuple[str, int]]) -> None:
    """Hash a file (with `add_file`: copied in, or for a push referenced where it is) or bytes
    into the local store."""
    if isinstance(entry._source, str):
        raise UsageError(f"{entry._source} is copied by the registry when the package is pushed.",
                         "Push the package (build() keeps packages on this machine only).")
    if isinstance(entry._source, Path):
        if not entry._source.is_file():
            raise PathNotFound(f"The file {str(entry._source)!r} is gone.", "Put it back or set() another.")
        entry.hashes, entry.size = [(result := add_file(entry._source))[0]], result[1]
    elif isinstance(entry._source, bytes):
        entry.hashes, entry.size = [(result := client.store.add_bytes(entry._source))[0]], result[1]
    else:
        return
    entry._source, entry._client = None, client


def _pushed_base(client: Client, session, name: str, contents: dict,
                 browsed: dict | None) -> tuple[str, dict, set[str]] | None:
    """The registry's `latest` of the package when this machine has its tree (built, pushed or
    installed here, or the `browsed` tree the package was edited from): its top hash, the changes
    from it to `contents` and the fragments it lacks. None when the push must go whole."""
    try:
        base_hash = api.resolve_top_hash(session, name)
    except NotFound:
        return None  # a new package (or one we may not read: the push says so)
    if browsed is not None and tophash(browsed) == base_hash:
        base = browsed
    else:
        found = client.store.load_manifest(name, base_hash)
        if found is None or tophash(found[1]) != base_hash:
            return None
        base = found[1]
    changed = changes(base, contents)
    if changed is None:
        return None
    return base_hash, changed, object_hashes(contents) - object_hashes(base)


def _size(store: ObjectStore, hash_: str, origins: dict) -> int:
    if store.has(hash_):
        return store.size(hash_)
    if hash_ in origins and origins[hash_].sizes.get(hash_) is not None:
        return origins[hash_].sizes[hash_]
    raise TransferError(f"Fragment {hash_} is neither in the local store nor in a known registry.")


def _load_meta(store: ObjectStore, meta_hash: str | None) -> dict:
    if not meta_hash:
        return {}
    try:
        meta = json.loads((store.readable(meta_hash) or store.path(meta_hash)).read_bytes())
    except (FileNotFoundError, ValueError):
        raise IntegrityError(f"The metadata fragment {meta_hash} is missing or not JSON.") from None
    return meta if isinstance(meta, dict) else {}
