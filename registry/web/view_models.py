"""What the pages show, made from what the services return: sharing badges, install lines, the
file tree as table rows, README HTML, search excerpts. Presentation only: the services have
already decided what the viewer may see, and nothing here reads the database."""

from __future__ import annotations

import posixpath
import shlex

from ..schemas.responses import Instance
from ..tree import GROUP
from .rendering import readme_to_html

MAX_FILE_ROWS = 1000  # a page a browser can still render; totals always cover the whole tree
SHORT_HASH = 10
EXCERPT_CHARS = 240


def visibility(is_public: bool, is_team: bool) -> str:
    return "public" if is_public else "team" if is_team else "private"


def excerpt(text: str | None) -> str:
    """The start of a README as one line of plain text (the page escapes it)."""
    words = " ".join((text or "").split())
    return words if len(words) <= EXCERPT_CHARS else words[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


def listed(item: dict) -> dict:
    """A package in a list (services.listings): its badge, and an excerpt of a search hit's README."""
    shown = {"owner": item["owner"], "name": item["name"], "visibility": visibility(item["is_public"], item["is_team"]),
             "updated_at": item.get("updated_at")}
    if "readme_preview" in item:
        shown["excerpt"] = excerpt(item["readme_preview"])
    return shown


def listing_page(page: dict) -> dict:
    """A services.listings page (an owner's packages, a page of search results) with each
    package as the list shows it."""
    return {**page, "packages": [listed(item) for item in page["packages"]]}


def shell_line(*words: str) -> str:
    """Words joined into one shell line, each quoted where needed: names are checked on the way
    in (registry.names), but a line people paste into a shell must be safe whatever it holds."""
    return " ".join(shlex.quote(word) for word in words)


def _selection_args(selected: dict) -> list[str]:
    option = {"tag": "-t", "version": "-v", "hash": "-x"}.get(selected["kind"])
    return [option, selected["value"]] if option else []


def install_lines(base_url: str, handle: str, selected: dict, *, is_public: bool) -> list[str]:
    """The shell lines that install exactly what the page shows with the quilt client."""
    lines = ["export QUILT_PKG_URL=" + shlex.quote(base_url)]
    if not is_public:
        lines.append("quilt login")
    return lines + [shell_line("quilt", "install", handle, *_selection_args(selected))]


def sdk_install_lines(base_url: str, handle: str, selected: dict, *, is_public: bool) -> list[str]:
    """The same with our own client (client/ in this repository: `pip install ./client`)."""
    lines = [] if is_public else [shell_line("registry-client", "login", "-r", base_url)]
    return lines + [shell_line("registry-client", "install", handle, "-r", base_url, *_selection_args(selected))]


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


INSTANCE = Instance()


def package_page(details: dict, base_url: str) -> dict:
    """The package and instance pages, from services.browse.package_details."""
    files, totals = file_rows(details["contents"], details["sizes"])
    readme = details["readme"]
    handle, selected, is_public = details["handle"], details["selected"], details["is_public"]
    return {
        **{key: details[key] for key in ("owner", "name", "handle", "is_owner", "selected", "tags", "versions",
                                         "access", "more_tags", "more_versions")},
        "instance": INSTANCE.dump(details["instance"]),  # as the API writes an instance
        "visibility": visibility(is_public, details["is_team"]),
        "readme_html": readme_to_html(readme["text"], readme["extension"]) if readme else None,
        "files": files, "file_count": totals["files"], "total_size": totals["size"],
        "files_hidden": max(0, totals["rows"] - len(files)),
        "log": details["log"], "older_pushes": details["older_pushes"],  # newest first
        "install": install_lines(base_url, handle, selected, is_public=is_public),
        "sdk_install": sdk_install_lines(base_url, handle, selected, is_public=is_public),
        "shell_handle": shlex.quote(handle),  # for the example commands on the page
    }
