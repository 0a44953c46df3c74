"""What the package page shows, as data: one instance (the `latest` one, or a chosen tag,
version or hash) with its README text, its tree and fragment sizes, and the package's sharing,
tags, versions, log and (for the owner) access list. The page itself (badges, install lines,
file rows, README HTML) is made from this in registry/web/view_models.py.

Reads only: no event is recorded, so browsing does not count as installs or previews.
"""

from __future__ import annotations

import logging
import posixpath

from sqlalchemy import select

from ..errors import NotFound
from ..models import Blob, Instance, Package, Version
from . import access, blobs, history, permissions, tags, trees, versions
from .context import Context
from .instances import find_instance
from .packages import hash_not_found
from .readme import PREVIEW_BYTES

log = logging.getLogger(__name__)

# What the page shows of lists that grow with every push or tag: `quilt log`, `quilt tag list`
# and `quilt version list` list them all.
NEWEST_PUSHES = 100
LABELS = 100  # tags (the first by name) and versions (the newest)


def package_details(ctx: Context, owner: str, name: str, *, top_hash: str | None = None,
                    tag: str | None = None, version: str | None = None, pushes: int = NEWEST_PUSHES) -> dict:
    """Everything the package and instance pages show; a package the caller may not read, and
    a hash, tag or version it does not have, are all NotFound. `log` holds the newest `pushes`
    entries of the log, newest first, `tags` the first LABELS by name and `versions` the newest
    LABELS in PEP 440 order; `older_pushes`, `more_tags` and `more_versions` say whether there
    are more. The pushes are labelled with the tags and versions shown."""
    package = permissions.readable_package(ctx, owner, name)
    instance, selected = _select_instance(ctx, package, top_hash, tag, version)
    contents = trees.load_tree(ctx.session, instance.id)
    is_owner = permissions.is_owner(ctx, package)
    is_public, is_team = permissions.access_flags(ctx, package)
    shown_tags, more_tags = tags.first_tags(ctx, package, LABELS)
    shown_versions, more_versions = versions.newest_versions(ctx, package, LABELS)
    log, older_pushes = history.newest_pushes(ctx, package, pushes, _by_hash(shown_tags, "tag"),
                                              _by_hash(shown_versions, "version"))
    return {
        "owner": package.owner, "name": package.name, "handle": package.handle,
        "is_public": is_public, "is_team": is_team, "is_owner": is_owner,
        "selected": selected,
        "instance": instance,
        "readme": _readme(ctx, package, instance, contents),
        "contents": contents, "sizes": blobs.instance_sizes(ctx.session, instance.id),
        "tags": shown_tags, "more_tags": more_tags,
        "versions": shown_versions, "more_versions": more_versions,
        "log": log, "older_pushes": older_pushes,
        "access": access.list_access(ctx, owner, name) if is_owner else None,
    }


def _by_hash(labels: list[dict], key: str) -> dict[str, list[str]]:
    """`[{key: NAME, "hash": HASH}, ...]` as {HASH: [NAME, ...]}, in the list's order."""
    names: dict[str, list[str]] = {}
    for label in labels:
        names.setdefault(label["hash"], []).append(label[key])
    return names


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


def _readme(ctx: Context, package: Package, instance: Instance, contents: dict) -> dict | None:
    """`{"text", "extension"}`: the start of the README and the extension of the file it was
    built from (which tells Markdown from plain text); None without one, or when unreadable."""
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
    return {"text": text, "extension": extension}

