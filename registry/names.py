"""What a name may be: user names (who also own packages), package names, tag names and versions.

Every rule matches the whole string, ASCII only (`\\Z`, so even `re.match` cannot let `bob/blobs\\n`
through), and every character set is safe on a shell line and in a URL path segment without
quoting. The database compares names exactly as well (a NO PAD binary collation on MariaDB/MySQL,
see `registry.db.Name`), so `latest ` is neither accepted here nor equal to `latest` there.

| name     | rule                                                        | max |
|----------|-------------------------------------------------------------|-----|
| user     | `[a-z][a-z0-9_]*` (protocol.md 4)                           | 64  |
| package  | `[A-Za-z][A-Za-z0-9_]*` (protocol.md 4, `\\w` made ASCII)   | 64  |
| tag      | `[A-Za-z0-9][A-Za-z0-9._-]*`                                | 64  |
| version  | PEP 440; as written (outer ASCII blanks stripped) `[A-Za-z0-9._!+-]`, stored normalised | 64 |
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from .errors import BadRequest, NotFound

MAX_NAME_LENGTH = 64  # the Name(64) columns

USERNAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
PACKAGE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# A tag never starts with `.` or `-`: no `..` path segment, no shell option look-alike.
TAG_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# What PEP 440 can spell, in ASCII: packaging alone would also strip Unicode blanks (`\u3000`).
VERSION_TEXT_RE = re.compile(r"[A-Za-z0-9._!+-]{1,64}\Z")
NORMALISED_VERSION_RE = re.compile(r"[0-9a-z.!+]{1,64}\Z")
ASCII_BLANKS = " \t\n\r\f\v"

USERNAME_RULE = "Use 1-64 lowercase letters, digits and underscores, starting with a letter."
TAG_NAME_RULE = "Use 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit."


def impossible(kind: str, name: str) -> NotFound:
    """For a lookup by a name no user or package can have: nothing is there (a 404), rather
    than an empty answer that suggests the name could exist."""
    return NotFound(f"No {kind} can be called {name[:80]!r}")


def is_username(name: object) -> bool:
    return isinstance(name, str) and USERNAME_RE.fullmatch(name) is not None


def is_package_name(name: object) -> bool:
    return isinstance(name, str) and PACKAGE_NAME_RE.fullmatch(name) is not None


def is_handle(owner: object, name: object) -> bool:
    """Whether `owner/name` could name a package at all (owners are user names)."""
    return is_username(owner) and is_package_name(name)


def is_tag_name(name: object) -> bool:
    return isinstance(name, str) and TAG_NAME_RE.fullmatch(name) is not None


def check_username(name: str) -> None:
    if not is_username(name):
        raise BadRequest(f"Username is not valid. {USERNAME_RULE}")


def check_package_name(name: str) -> None:
    if not is_package_name(name):
        raise BadRequest("Invalid package name")


def check_tag_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"Tag names are at most {MAX_NAME_LENGTH} characters")
    if not is_tag_name(name):
        raise BadRequest(f"Invalid tag name. {TAG_NAME_RULE}")


def parse_version(text: str) -> tuple[str, str]:
    """(normalised, as written): `"  2.0pre1\\t"` -> ("2.0rc1", "2.0pre1"). Both are ASCII from
    the sets above and at most 64 characters; anything else is 400 `Malformed version`."""
    written = text.strip(ASCII_BLANKS)
    if len(written) > MAX_NAME_LENGTH:
        raise BadRequest(f"Versions are at most {MAX_NAME_LENGTH} characters")
    if not VERSION_TEXT_RE.fullmatch(written):
        raise BadRequest("Malformed version")
    try:
        normalised = str(Version(written))
    except InvalidVersion:
        raise BadRequest("Malformed version") from None
    if len(normalised) > MAX_NAME_LENGTH:  # normalising can lengthen it: `1-1` -> `1.post1`
        raise BadRequest(f"Versions are at most {MAX_NAME_LENGTH} characters")
    if not NORMALISED_VERSION_RE.fullmatch(normalised):
        raise BadRequest("Malformed version")
    return normalised, written
