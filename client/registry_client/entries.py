"""The pieces of a package: files (PackageEntry) and folders (PackageDir), dict-like by logical key,
and where their bytes come from (a local file, bytes in memory, or fragments in a registry)."""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .errors import NotFound, PathNotFound, UsageError
from .transfer import Download
from .tree import metadata_fragment, split_key

if TYPE_CHECKING:
    from .client import Client

URL_LIFETIME = 3600  # reuse presigned URLs for an hour; the registry's last a day


def check_meta(meta: Any) -> dict:
    meta = {} if meta is None else meta
    try:
        metadata_fragment(meta)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"Invalid metadata: {exc}", "Metadata is a JSON object (a dict of JSON values).") from None
    return copy.deepcopy(meta)


class Origin:
    """A package instance in a registry: fetches the fragments entries need, with URLs from the
    install response while they are fresh, else from `POST /api/get_objects`."""

    def __init__(self, client: "Client", registry: str, name: str, top_hash: str, urls: dict, sizes: dict):
        self.client, self.registry, self.name, self.top_hash = client, registry, name, top_hash
        self.urls, self.sizes, self.fetched_at = dict(urls), dict(sizes), time.monotonic()

    def ensure_local(self, hashes: set[str], label: str | None = None) -> None:
        store = self.client.store
        missing = sorted(store.missing(hashes))
        if not missing:
            return
        if time.monotonic() - self.fetched_at > URL_LIFETIME or not set(missing) <= set(self.urls):
            answer = self.client.session(self.registry).request("POST", "/api/get_objects", json_body=missing)
            self.urls.update(answer["urls"])
            self.sizes.update(answer["sizes"])
            self.fetched_at = time.monotonic()
        lost = [h for h in missing if h not in self.urls]
        if lost:
            raise NotFound(f"The registry has no download URL for {len(lost)} fragment(s) of {self.name}.",
                           "The package may have been deleted; browse it again.")
        self.client.transfers().download([Download(h, self.urls[h], self.sizes[h]) for h in missing], store,
                                         label=label or f"Downloading {self.name}")


class PackageEntry:
    """One file of a package: its fragment hashes, size and user metadata."""

    def __init__(self, *, source: Path | bytes | None = None, hashes: list[str] | None = None,
                 size: int | None = None, meta: dict | None = None, node: dict | None = None,
                 origin: Origin | None = None, client: "Client | None" = None, name: str | None = None):
        self._source, self.hashes, self.size = source, hashes, size
        self._name = name  # the file name, for fetch() into a folder and deserialize()
        self._meta = check_meta(meta)
        self._node = node  # the tree node it came from: its type, format and q_ext/q_target are kept
        self._origin, self._client = origin, client

    @property
    def hash(self) -> str | None:
        return self.hashes[0] if self.hashes and len(self.hashes) == 1 else None

    @property
    def target(self) -> str:
        """"file" for plain bytes; "pandas"/"numpy" for data the quilt builder serialised."""
        node = self._node or {}
        return "pandas" if node.get("type") == "TABLE" else (node.get("metadata") or {}).get("q_target", "file")

    def get_meta(self) -> dict:
        return copy.deepcopy(self._meta)

    def set_meta(self, meta: dict) -> "PackageEntry":
        self._meta = check_meta(meta)
        return self

    def __repr__(self) -> str:
        where = self._source if isinstance(self._source, Path) else (self.hash or "bytes")
        return f"PackageEntry({str(where)!r}, size={self.size})"

    def _ensure_local(self, hashes: set[str] | None = None) -> None:
        if self._source is None and self.hashes and self._origin is not None:
            self._origin.ensure_local(set(self.hashes) if hashes is None else hashes)

    def _open(self):
        if isinstance(self._source, bytes):
            return io.BytesIO(self._source)
        if isinstance(self._source, Path):
            return open(self._source, "rb")
        if self.hashes is None or len(self.hashes) != 1:
            raise UsageError(f"This entry is stored as {len(self.hashes or [])} fragments (a DataFrame "
                             "built by quilt), not as one file.", "Use deserialize() to load it.")
        self._ensure_local()
        return open(self._readable(self.hashes[0]), "rb")

    def _readable(self, hash_: str) -> Path:
        store = self._store()
        stored = store.readable(hash_)
        if stored is None and self._origin is not None:  # a local copy that failed its check
            self._origin.ensure_local({hash_})
            stored = store.readable(hash_)
        if stored is None:
            raise PathNotFound(f"Fragment {hash_} is not in the local store.",
                               "Browse or install the package from its registry first.")
        return stored

    def _store(self):
        client = self._origin.client if self._origin else self._client
        if client is None:
            from .client import default_client
            client = default_client()
        return client.store

    def get_bytes(self) -> bytes:
        with self._open() as handle:
            return handle.read()

    def fetch(self, dest: str | Path) -> Path:
        """Write the file to `dest` (a file path, or an existing folder to put it in by name)."""
        dest = Path(dest)
        if dest.is_dir() and len(self.hashes or ()) <= 1:
            dest = dest / (self._name or "data")
        if len(self.hashes or ()) > 1:  # a DataFrame quilt split into Parquet parts: a folder of them
            self._ensure_local()
            dest.mkdir(parents=True, exist_ok=True)
            for number, hash_ in enumerate(self.hashes):
                self._store().copy_out(hash_, dest / f"part-{number:05d}.parquet")
            return dest
        if self._source is None and self.hash is not None:
            self._ensure_local()
            self._readable(self.hash)  # downloaded again if a local copy failed its check
            self._store().copy_out(self.hash, dest)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._open() as reader, open(dest, "wb") as writer:
            while chunk := reader.read(1024 * 1024):
                writer.write(chunk)
        return dest

    def deserialize(self) -> Any:
        """The contents as Python data: DataFrames for tables, CSV and Parquet (needs pandas),
        objects for JSON, text for text files, bytes otherwise."""
        suffix = Path(self._name or "").suffix.lower()
        if self.target == "pandas" or suffix in (".csv", ".tsv", ".parquet"):
            pandas = _pandas()
            if self.target == "pandas" or suffix == ".parquet":
                self._ensure_local()
                frames = [pandas.read_parquet(self._readable(h)) for h in self.hashes or ()]
                return frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)
            with self._open() as handle:
                return pandas.read_csv(handle, sep="\t" if suffix == ".tsv" else ",")
        data = self.get_bytes()
        if suffix == ".json":
            return json.loads(data)
        if suffix in (".txt", ".md", ".rst", ".yaml", ".yml"):
            return data.decode("utf-8")
        return data


def _pandas():
    try:
        import pandas
    except ImportError:
        raise UsageError("Loading tables needs pandas.",
                         "Install it: pip install 'data-registry-client[pandas]'") from None
    return pandas


class PackageDir:
    """A folder: children by name; `dir["a/b.csv"]` walks down logical keys."""

    def __init__(self, meta: dict | None = None):
        self._children: dict[str, PackageEntry | PackageDir] = {}
        self._meta = check_meta(meta)

    def __getitem__(self, key: str) -> "PackageEntry | PackageDir":
        node: PackageEntry | PackageDir = self
        for part in split_key(key):
            if not isinstance(node, PackageDir) or part not in node._children:
                raise KeyError(key)
            node = node._children[part]
        return node

    def __contains__(self, key: str) -> bool:
        try:
            self[key]
        except (KeyError, ValueError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._children))

    def __len__(self) -> int:
        return len(self._children)

    def keys(self) -> list[str]:
        return sorted(self._children)

    def items(self) -> list[tuple[str, "PackageEntry | PackageDir"]]:
        return sorted(self._children.items())

    def walk(self) -> Iterator[tuple[str, PackageEntry]]:
        """(logical key relative to this folder, entry) for every file below, sorted."""
        for name, child in self.items():
            if isinstance(child, PackageDir):
                for key, entry in child.walk():
                    yield f"{name}/{key}", entry
            else:
                yield name, child

    def get_meta(self) -> dict:
        return copy.deepcopy(self._meta)

    def set_meta(self, meta: dict) -> "PackageDir":
        self._meta = check_meta(meta)
        return self

    def fetch(self, dest: str | Path) -> Path:
        """Write every file below this folder under `dest`, at its logical key."""
        dest = Path(dest)
        entries = list(self.walk())
        by_origin: dict[int, tuple[Origin, set[str]]] = {}
        for _, entry in entries:  # one batch of downloads per registry package
            if entry._origin is not None and entry._source is None and entry.hashes:
                by_origin.setdefault(id(entry._origin), (entry._origin, set()))[1].update(entry.hashes)
        for origin, hashes in by_origin.values():
            origin.ensure_local(hashes)
        for key, entry in entries:
            entry.fetch(dest.joinpath(*key.split("/")))
        dest.mkdir(parents=True, exist_ok=True)
        return dest

    def __repr__(self) -> str:
        lines = [f"{key}" for key, _ in self.walk()]
        return f"{type(self).__name__}({len(lines)} files)" + "".join(f"\n  {line}" for line in lines[:20])
