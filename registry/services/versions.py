"""Versions: immutable PEP 440 names for instances (protocol.md 4, 9.9, 10.4)."""

from __future__ import annotations

from packaging.version import Version as Pep440

from sqlalchemy import select

from .. import names
from ..errors import Conflict, NotFound
from ..models import Instance, Package, Version
from . import permissions
from .context import Context
from .instances import find_instance, hashes_of


def normalise(version: str) -> str:
    """`2.0pre1` -> `2.0rc1`, `v1.0` -> `1.0`; `1.0` and `1.0.0` stay different (as the original).
    The character rules are in registry.names."""
    return names.parse_version(version)[0]


def list_versions(ctx: Context, owner: str, name: str) -> list[dict]:
    package = permissions.readable_package(ctx, owner, name)
    rows = ctx.session.execute(select(Version.version, Version.user_version, Instance.hash)
                               .join(Instance, Instance.id == Version.instance_id)
                               .where(Version.package_id == package.id)).all()
    return [{"version": user_version, "hash": hash_}
            for _, user_version, hash_ in sorted(rows, key=lambda row: Pep440(row[0]))]


def newest_versions(ctx: Context, package: Package, count: int) -> tuple[list[dict], bool]:
    """The `count` versions of the package named last (the page), in PEP 440 order, and
    whether it has more."""
    rows = ctx.session.execute(select(Version.version, Version.user_version, Version.instance_id)
                               .where(Version.package_id == package.id)
                               .order_by(Version.created_at.desc(), Version.version.desc()).limit(count + 1)).all()
    shown = sorted(rows[:count], key=lambda row: Pep440(row.version))
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
