"""What the package page shows: one instance (the `latest` one, or a chosen tag, version or
hash) with its README rendered to safe HTML, its file tree with sizes and hashes, and the
package's tags, versions, log, install lines and (for the owner) access list.

Reads only: no event is recorded, so browsing does not count as installs or previews.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shlex

from sqlalchemy import select

from ..db import epoch
from ..errors import NotFound
from ..models import Blob, Instance, Package, Version
from ..tree import GROUP
from . import access, blobs, history, permissions, rendering, tags, trees, versions
from .context import Context
from .instances import find_instance
from .packages import hash_not_found
from .readme import PREVIEW_BYTES

log = logging.getLogger(__name__)

MAX_FILE_ROWS = 1000  # a page a browser can still render; totals always cover the whole tree
MAX_LOG_ROWS = 100
SHORT_HASH = 10


def visibility(is_public: bool, is_team: bool) -> str:
    return "public" if is_public else "team" if is_team else "private"


def package_page(ctx: Context, owner: str, name: str, *, top_hash: str | None = None, tag: str | None = None,
                 version: str | None = None, log_rows: int = MAX_LOG_ROWS) -> dict:
    """Everything the package and instance pages show; a package the caller may not read, and
    a hash, tag or version it does not have, are all NotFound."""
    package = permissions.readable_package(ctx, owner, name)
    instance, selected = _select_instance(ctx, package, top_hash, tag, version)
    contents = json.loads(trees.load(ctx.session, instance.id))
    sizes = blobs.instance_sizes(ctx.session, instance.id)
    files, totals = file_rows(contents, sizes)
    is_owner = permissions.is_owner(ctx, package)
    is_public, is_team = permissions.access_flags(ctx, package)
    log = history.list_log(ctx, owner, name)
    return {
        "owner": package.owner, "name": package.name, "handle": package.handle,
        "visibility": visibility(is_public, is_team),
        "is_owner": is_owner,
        "selected": selected,
        "instance": {"hash": instance.hash, "created_by": instance.created_by,
                     "created_at": epoch(instance.created_at), "updated_by": instance.updated_by,
                     "updated_at": epoch(instance.updated_at)},
        "readme_html": _readme_html(ctx, package, instance, contents),
        "files": files, "file_count": totals["files"], "total_size": totals["size"],
        "files_hidden": max(0, totals["rows"] - len(files)),
        "tags": tags.list_tags(ctx, owner, name),
        "versions": versions.list_versions(ctx, owner, name),
        "log": log[::-1][:log_rows], "log_total": len(log),
        "access": access.list_access(ctx, owner, name) if is_owner else None,
        "install": install_lines(ctx, package, selected, is_public=is_public),
        "sdk_install": sdk_install_lines(ctx, package, selected, is_public=is_public),
        "shell_handle": shlex.quote(package.handle),  # for the example commands on the page
    }


def _select_instance(ctx: Context, package: Package, top_hash: str | None, tag: str | None,
                     version: str | None) -> tuple[Instance, dict]:
    if top_hash is not None:
        instance = find_instance(ctx.session, package.id, top_hash)
        if instance is None:
            raise hash_not_found()
        return instance, {"kind": "hash", "value": top_hash}
    if version is not None:
        normalised = versions.normalise(version)
        instance = ctx.session.scalar(select(Instance).join(Version, Version.instance_id == Instance.id)
                                      .where(Version.package_id == package.id, Version.version == normalised))
        if instance is None:
            raise NotFound(f"Version {normalised} does not exist")
        return instance, {"kind": "version", "value": version}
    if tag is not None:
        instance = tags.tagged_instance(ctx, package, tag)
        if instance is None:
            raise NotFound(f"Tag '{tag}' does not exist")
        return instance, {"kind": "tag", "value": tag}
    # `latest` can be deleted by the owner; the most recent push stands in for it then.
    instance = tags.tagged_instance(ctx, package, tags.LATEST) or ctx.session.scalar(
        select(Instance).where(Instance.package_id == package.id)
        .order_by(Instance.updated_at.desc(), Instance.id.desc()).limit(1))
    if instance is None:
        raise hash_not_found()
    return instance, {"kind": "latest", "value": None}


def shell_line(*words: str) -> str:
    """Words joined into one shell line, each quoted where needed: names are checked on the way
    in (registry.names), but a line people paste into a shell must be safe whatever it holds."""
    return " ".join(shlex.quote(word) for word in words)


def _selection_args(selected: dict) -> list[str]:
    option = {"tag": "-t", "version": "-v", "hash": "-x"}.get(selected["kind"])
    return [option, selected["value"]] if option else []


def install_lines(ctx: Context, package: Package, selected: dict, *, is_public: bool) -> list[str]:
    """The shell lines that install exactly what the page shows with the quilt client."""
    lines = ["export QUILT_PKG_URL=" + shlex.quote(ctx.base_url)]
    if not is_public:
        lines.append("quilt login")
    return lines + [shell_line("quilt", "install", package.handle, *_selection_args(selected))]


def sdk_install_lines(ctx: Context, package: Package, selected: dict, *, is_public: bool) -> list[str]:
    """The same with our own client (client/ in this repository: `pip install ./client`)."""
    lines = [] if is_public else [shell_line("registry-client", "login", "-r", ctx.base_url)]
    return lines + [shell_line("registry-client", "install", package.handle, "-r", ctx.base_url,
                               *_selection_args(selected))]


def file_rows(contents: dict, sizes: dict[str, int], limit: int = MAX_FILE_ROWS) -> tuple[list[dict], dict]:
    """The tree as rows in display order (folders first, then by name), each with its depth,
    size (a folder's is the sum of what it holds), hashes and metadata; at most `limit` rows."""
    rows: list[dict] = []
    totals = {"files": 0, "size": 0, "rows": 0}

    def visit(node: dict, path: list[str]) -> int:
        total = 0
        children = sorted(node["children"].items(), key=lambda item: (item[1]["type"] != GROUP, item[0]))
        for child_name, child in children:
            child_path = path + [child_name]
            totals["rows"] += 1
            row = None
            if len(rows) < limit:
                row = {"name": child_name, "path": "/".join(child_path), "depth": len(path),
                       "kind": child["type"].lower()}
                rows.append(row)
            if child["type"] == GROUP:
                size = visit(child, child_path)
            else:
                size = sum(sizes.get(h, 0) for h in child["hashes"])
                totals["files"] += 1
                if row is not None:
                    metadata = child.get("metadata") or {}
                    source = metadata.get("q_path")
                    source = posixpath.basename(source.replace("\\", "/")) if isinstance(source, str) else ""
                    row.update(hashes=child["hashes"], metadata=metadata,
                               source=source if source != child_name else "",
                               short_hash=child["hashes"][0][:SHORT_HASH] if child["hashes"] else "",
                               format=child.get("format"))
            if row is not None:
                row["size"] = size
                if "metadata_hash" in child:
                    row["metadata_hash"] = child["metadata_hash"]
            total += size
        return total

    totals["size"] = visit(contents, [])
    return rows, totals


def _readme_html(ctx: Context, package: Package, instance: Instance, contents: dict) -> str | None:
    if not instance.readme_hash:
        return None
    row = ctx.session.execute(select(Blob.preview, Blob.batch).where(Blob.owner == package.owner,
                                                                     Blob.hash == instance.readme_hash)).first()
    text = row.preview if row else None
    if text is None:  # not indexed yet (or reading it after the push failed): read it now
        try:
            text = ctx.store.read(package.owner, instance.readme_hash, PREVIEW_BYTES,
                                  row.batch if row else None).decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - the page still works without its README
            log.warning("could not read README %s/%s", package.owner, instance.readme_hash, exc_info=True)
            return None
    # The file it was built from tells Markdown from plain text (q_ext names the transform, not the suffix).
    source = (contents["children"]["README"].get("metadata") or {}).get("q_path")
    extension = posixpath.splitext(source.replace("\\", "/"))[1] if isinstance(source, str) else None
    return rendering.readme_to_html(text, extension)

