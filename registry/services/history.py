"""The push log (protocol.md 9.7): every push, oldest first, with the tags and versions that
point at its instance now.

Both reads walk the index (package_id, created_at, id) of `log` alone, then look up the hashes
of the instances they found. Joined to `instance` in one statement, MariaDB may start from the
package's instances instead and sort every push of the package (a package whose one instance
was pushed 10,000 times: 0.7 s for its newest 100)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from sqlalchemy import select

from ..db import epoch
from ..models import Log, Package, Tag, Version
from . import keyset, permissions
from .context import Context
from .instances import hashes_of


def log_entries(ctx: Context, owner: str, name: str) -> Iterator[dict]:
    """The whole log, oldest first. Permission is checked and the first rows are read at once;
    the rest a batch at a time as the entries are taken (services.keyset), so that the caller
    may send them (each with up to 10,000 characters of message) before the next are read."""
    package = permissions.readable_package(ctx, owner, name)
    rows = keyset.batches(ctx.session, _rows(package), Log.created_at, Log.id)
    return _all_entries(ctx, rows, *_labels(ctx, package))


def newest_pushes(ctx: Context, package: Package, count: int, tags: dict[str, list[str]],
                  versions: dict[str, list[str]]) -> tuple[list[dict], bool]:
    """The newest `count` entries of the log, newest first, and whether it holds older ones.
    Each is labelled with the tags and versions given by hash (the page gives those it shows:
    a package may have any number, and reading all of them would cost every view)."""
    rows = ctx.session.execute(_rows(package).order_by(Log.created_at.desc(), Log.id.desc())
                               .limit(count + 1)).all()
    shown = rows[:count]
    hashes = hashes_of(ctx.session, {row.instance_id for row in shown})
    entries = []
    for row in shown:
        hash_ = hashes[row.instance_id]
        entries.append(_entry(row, hash_, tags.get(hash_), versions.get(hash_)))
    return entries, len(rows) > count


def _all_entries(ctx: Context, batches: Iterator[list], tags: dict, versions: dict) -> Iterator[dict]:
    hashes: dict[int, str] = {}
    for rows in batches:
        hashes_of(ctx.session, {row.instance_id for row in rows}, hashes)
        for row in rows:
            yield _entry(row, hashes[row.instance_id], tags.get(row.instance_id), versions.get(row.instance_id))


def _rows(package: Package):
    return select(Log.id, Log.instance_id, Log.created_at, Log.author, Log.message).where(Log.package_id == package.id)


def _labels(ctx: Context, package: Package) -> tuple[dict, dict]:
    """Tag names and versions of the package, by instance id."""
    tags, versions = defaultdict(list), defaultdict(list)
    for instance_id, tag in ctx.session.execute(select(Tag.instance_id, Tag.name)
                                                .where(Tag.package_id == package.id).order_by(Tag.name)):
        tags[instance_id].append(tag)
    for instance_id, version in ctx.session.execute(select(Version.instance_id, Version.version)
                                                    .where(Version.package_id == package.id)):
        versions[instance_id].append(version)
    return tags, versions


def _entry(row, hash_: str, tags: list[str] | None, versions: list[str] | None) -> dict:
    # The client prints the lists with str(); null (not []) is what it shows as "None".
    return {"hash": hash_, "created": epoch(row.created_at), "author": row.author, "message": row.message,
            "tags": tags or None, "versions": versions or None}
