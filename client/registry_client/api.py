"""Registry operations that are not about a package's contents: configuration and login, package
lists, search, deletion, history, tags, versions and sharing."""

from __future__ import annotations

import re
import sys
from typing import Any
from urllib.parse import quote

from .client import Client, resolve
from .errors import NotFound, UsageError
from .tree import HASH_RE

OWNER_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
SHORT_HASH_RE = re.compile(r"^[0-9a-f]{6,64}$")


def parse_name(name: str) -> tuple[str, str]:
    """OWNER/NAME, checked before any request so a typo gets a clear answer."""
    owner, _, package = (name or "").partition("/")
    if not OWNER_RE.match(owner) or not NAME_RE.match(package):
        raise UsageError(f"{name!r} is not a package name.",
                         "Use OWNER/NAME: OWNER is a user name (lowercase letters, digits, _), NAME starts "
                         "with a letter and has letters, digits and _ (at most 64 each), e.g. acme/sales_2024.")
    return owner, package


def _path(kind: str, name: str, *rest: str) -> str:
    owner, package = parse_name(name)
    tail = "/".join(quote(part, safe="") for part in rest)
    return f"/api/{kind}/{owner}/{package}/{tail}"


# Configuration and login

def config(client: Client | None = None, **changes: Any) -> dict:
    """Show the settings, or change and persist some, e.g. config(default_remote_registry=URL)."""
    client = resolve(client)
    return client.settings.update_config(**changes) if changes else client.config()


def login(registry: str | None = None, code: str | None = None, *, client: Client | None = None) -> None:
    """Sign in with a one-time code from the registry's /login page (prompted for when not given)."""
    session = resolve(client).session(registry)
    if code is None:
        # The prompt goes to standard error: standard output stays clean for --json.
        print(f"Open {session.url}/login in a browser, sign in and copy the code it shows.\nCode: ",
              end="", file=sys.stderr, flush=True)
        try:
            code = input()
        except EOFError:  # no terminal (a script, CI): nothing to prompt on
            code = ""
    if not code.strip():
        raise UsageError("No login code given.", f"Copy the code shown on {session.url}/login and pass it "
                         "(registry-client login URL --code CODE, or login(url, code=...)).")
    session.login(code)


def logout(registry: str | None = None, *, client: Client | None = None) -> bool:
    """Forget this machine's login to the registry (and end the session there)."""
    return resolve(client).session(registry).logout()


# Packages

def list_packages(registry: str | None = None, owner: str | None = None, *, client: Client | None = None) -> list[str]:
    """OWNER/NAME of every package you can read: all of one owner's, or every tagged one."""
    session = resolve(client).session(registry)
    if owner is not None:
        if not OWNER_RE.match(owner):
            raise UsageError(f"{owner!r} is not a user name.")
        return [f"{owner}/{item['name']}" for item in session.request("GET", f"/api/package/{owner}/")["packages"]]
    return [f"{item['owner']}/{item['name']}" for item in _search_pages(session, "")]


def search(query: str = "", registry: str | None = None, *, client: Client | None = None) -> list[dict]:
    """Packages whose name, file names or README contain every word of `query`."""
    return _search_pages(resolve(client).session(registry), query)


def _search_pages(session, query: str) -> list[dict]:
    results, cursor = [], None
    while True:
        params = {"q": query, **({"cursor": cursor} if cursor else {})}
        page = session.request("GET", "/api/search/", params=params)
        results.extend(page["packages"])
        cursor = page.get("next_cursor")
        if not cursor:
            return results


def delete_package(name: str, registry: str | None = None, *, client: Client | None = None) -> None:
    """Delete the package with all its versions, tags and history from the registry."""
    resolve(client).session(registry).request("DELETE", _path("package", name))


def log(name: str, registry: str | None = None, *, client: Client | None = None) -> list[dict]:
    """Every push, oldest first: hash, created (epoch seconds), author, message, tags, versions."""
    return resolve(client).session(registry).request("GET", _path("log", name))["logs"]


def resolve_hash(session, name: str, short: str) -> str:
    """A full tophash from a prefix of at least 6 hex digits, through the package's log."""
    short = short.strip().lower()
    if HASH_RE.match(short):
        return short
    if not SHORT_HASH_RE.match(short):
        raise UsageError(f"{short!r} is not a package hash (give at least 6 hex digits).")
    found = sorted({entry["hash"] for entry in session.request("GET", _path("log", name))["logs"]
                    if entry["hash"].startswith(short)})
    if not found:
        raise NotFound(f"No push of {name} has a hash starting with {short}.",
                       f"See the hashes with: registry-client log {name}")
    if len(found) > 1:
        raise UsageError(f"{short} matches several hashes of {name}: {', '.join(h[:12] for h in found)}",
                         "Give more digits.")
    return found[0]


def resolve_top_hash(session, name: str, top_hash: str | None = None, tag: str | None = None,
                     version: str | None = None) -> str:
    if sum(x is not None for x in (top_hash, tag, version)) > 1:
        raise UsageError("Give at most one of top_hash, tag and version.")
    if top_hash:
        return resolve_hash(session, name, top_hash)
    if version is not None:
        return session.request("GET", _path("version", name, version))["hash"]
    return session.request("GET", _path("tag", name, tag or "latest"))["hash"]


# Tags, versions, access

def list_tags(name: str, registry: str | None = None, *, client: Client | None = None) -> dict[str, str]:
    tags = resolve(client).session(registry).request("GET", _path("tag", name))["tags"]
    return {item["tag"]: item["hash"] for item in tags}


def add_tag(name: str, tag: str, top_hash: str, registry: str | None = None, *, client: Client | None = None) -> str:
    """Point `tag` at a push of the package (a full hash or a prefix of it); returns the hash."""
    session = resolve(client).session(registry)
    full = resolve_hash(session, name, top_hash)
    session.request("PUT", _path("tag", name, tag), json_body={"hash": full})
    return full


def remove_tag(name: str, tag: str, registry: str | None = None, *, client: Client | None = None) -> None:
    resolve(client).session(registry).request("DELETE", _path("tag", name, tag))


def list_versions(name: str, registry: str | None = None, *, client: Client | None = None) -> dict[str, str]:
    versions = resolve(client).session(registry).request("GET", _path("version", name))["versions"]
    return {item["version"]: item["hash"] for item in versions}


def add_version(name: str, version: str, top_hash: str, registry: str | None = None, *,
                client: Client | None = None) -> str:
    """Name a push with a PEP 440 version; versions never move. Returns the hash."""
    session = resolve(client).session(registry)
    full = resolve_hash(session, name, top_hash)
    session.request("PUT", _path("version", name, version), json_body={"hash": full})
    return full


def list_access(name: str, registry: str | None = None, *, client: Client | None = None) -> list[str]:
    return sorted(resolve(client).session(registry).request("GET", _path("access", name))["users"])


def add_access(name: str, user: str, registry: str | None = None, *, client: Client | None = None) -> None:
    """Share with a user, or with `team` (every signed-in user) or `public` (everyone)."""
    resolve(client).session(registry).request("PUT", _path("access", name, user))


def remove_access(name: str, user: str, registry: str | None = None, *, client: Client | None = None) -> None:
    resolve(client).session(registry).request("DELETE", _path("access", name, user))
