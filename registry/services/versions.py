"""Versions: immutable PEP 440 names for instances (protocol.md 4, 9.9, 10.4)."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select

from .. import names
from ..errors import Conflict, NotFound
from ..models import Instance, Package, Version
from . import keyset, permissions
from .context import Context
from .instances import find_instance, hashes_of, named_hashes


def normalise(version: str) -> str:
    """`2.0pre1` -> `2.0rc1`, `v1.0` -> `1.0`; `1.0` and `1.0.0` stay different (as the original).
    The character rules are in registry.names."""
    return names.parse_version(version)[0]


def version_entries(ctx: Context, owner: str, name: str) -> Iterator[dict]:
    """Every version of the package in PEP 440 order (ties, such as `1.0` and `1.0.0`, by name),
    as the user wrote it, with its hash. Permission is checked and the first versions are read at
    once; the rest a batch at a time as they are taken, walking (package_id, sort_key, version)
    (services.keyset, registry.version_order): a version is one request, so a public package may
    have more than a worker should hold."""
    package = permissions.readable_package(ctx, owner, name)
    query = select(Version.sort_key, Version.version, Version.user_version, Version.instance_id) \
        .where(Version.package_id == package.id)
    # Named: the primary key (package_id, version) holds every column too, and MariaDB may choose it and sort.
    batches = keyset.batches(ctx.session, query, Version.sort_key, Version.version,
                             index="ix_version_package_id_sort_key")
    return named_hashes(ctx.session, batches, "version", "user_version")


def newest_versions(ctx: Context, package: Package, count: int) -> tuple[list[dict], bool]:
    """The `count` versions of the package named last (the page), in PEP 440 order, and
    whether it has more."""
    rows = ctx.session.execute(select(Version.sort_key, Version.version, Version.user_version, Version.instance_id)
                               .where(Version.package_id == package.id)
                               .order_by(Version.created_at.desc(), Version.version.desc()).limit(count + 1)).all()
    shown = sorted(rows[:count], key=lambda row: (row.sort_key, row.version))  # as the list
    hashes = hashes_of(ctx.session, {row.instance_id for row in shown})
    return [{"version": row.user_version, "hash": hashes[row.instance_id]} for row in shown], len(rows) > count


def get_version(ctx: Context, owner: str, name: str, version: str) -> Instance:
    normalised = normalise(version)
    package = permissions.readable_package(ctx, owner, name)
    instance = ctx.session.scalar(select(Instance).join(Version, Version.instance_id == Instance.id)
                                  .where(Version.package_id == package.id, Version.version == normalised))
    if instance is None:
        raise NotFound(f"Version {normalised} does not exist")
    return instance


def add_version(ctx: Context, owner: str, name: str, version: str, top_hash: str) -> None:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.require_owner(ctx, package, "Only the package owner can create versions")
    normalised, written = names.parse_version(version)
    instance = find_instance(ctx.session, package.id, top_hash)
    if instance is None:
        raise NotFound("Package hash does not exist")
    if ctx.session.get(Version, (package.id, normalised)) is not None:
        raise Conflict("Version already exists")
    ctx.session.add(Version(package_id=package.id, version=normalised, user_version=written,
                            instance_id=instance.id, created_by=ctx.actor.name))
