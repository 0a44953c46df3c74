"""Tags: movable names for instances. `latest` moves with every push, in the push's transaction."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import and_, bindparam, select, update

from .. import names
from ..db import utcnow
from ..errors import Conflict, NotFound
from ..models import Instance, Package, Tag
from . import keyset, permissions
from .context import Context
from .instances import find_instance, hashes_of, named_hashes

LATEST = "latest"
UNSET = object()


def tagged_instance(ctx: Context, package: Package, tag_name: str) -> Instance | None:
    return ctx.session.scalar(select(Instance).join(Tag, Tag.instance_id == Instance.id)
                              .where(Tag.package_id == package.id, Tag.name == tag_name))


def move_tag(ctx: Context, package: Package, instance: Instance, name: str) -> None:
    tag = ctx.session.scalar(select(Tag).where(Tag.package_id == package.id, Tag.name == name).with_for_update())
    if tag is None:
        ctx.session.add(Tag(package_id=package.id, name=name, instance_id=instance.id, updated_by=ctx.actor.name))
    else:
        tag.instance_id, tag.updated_at, tag.updated_by = instance.id, utcnow(), ctx.actor.name
    ctx.session.flush()


def tag_entries(ctx: Context, owner: str, name: str) -> Iterator[dict]:
    """Every tag of the package by name, with its hash. Permission is checked and the first tags
    are read at once; the rest a batch at a time as they are taken (services.keyset): a tag is
    one request, so a public package may have more than a worker should hold."""
    package = permissions.readable_package(ctx, owner, name)
    batches = keyset.batches(ctx.session, select(Tag.name, Tag.instance_id).where(Tag.package_id == package.id),
                             Tag.name)
    return named_hashes(ctx.session, batches, "tag", "name")


def first_tags(ctx: Context, package: Package, count: int) -> tuple[list[dict], bool]:
    """The first `count` tags of the package by name (the page), and whether it has more: a
    walk of the key (package_id, name), whatever the number of tags."""
    rows = ctx.session.execute(select(Tag.name, Tag.instance_id).where(Tag.package_id == package.id)
                               .order_by(Tag.name).limit(count + 1)).all()
    hashes = hashes_of(ctx.session, {instance_id for _, instance_id in rows[:count]})
    return [{"tag": tag, "hash": hashes[instance_id]} for tag, instance_id in rows[:count]], len(rows) > count


_GET_TAG: dict[bool, object] = {}


def _get_tag_statement(ctx: Context):
    """One statement for the whole answer: the readable package, the tagged instance (none when
    the tag does not exist) and the sharing flags. Built once per kind of caller."""
    key = ctx.actor.is_operator
    statement = _GET_TAG.get(key)
    if statement is None:
        statement = (
            select(Instance.hash, Instance.created_by, Instance.created_at, Instance.updated_by, Instance.updated_at,
                   permissions.shared_with(permissions.PUBLIC).label("is_public"),
                   permissions.shared_with(permissions.TEAM).label("is_team"))
            .select_from(Package)
            .outerjoin(Tag, and_(Tag.package_id == Package.id, Tag.name == bindparam("tag")))
            .outerjoin(Instance, Instance.id == Tag.instance_id)
            .where(Package.owner == bindparam("owner"), Package.name == bindparam("name"),
                   permissions.readable_clause(ctx, prebuilt=True)))
        statement = _GET_TAG.setdefault(key, statement)
    return statement


def get_tag(ctx: Context, owner: str, name: str, tag_name: str):
    """The tagged instance: its hash, who made and touched it when, and the package's sharing."""
    row = ctx.reads.first(ctx.session, f"get-tag-{ctx.actor.is_operator}", _get_tag_statement(ctx),
                          {"owner": owner, "name": name, "tag": tag_name, **permissions.readable_params(ctx)})
    if row is None:  # missing, or not readable: the same 404
        raise permissions.package_not_found(ctx.actor, owner, name)
    if row.hash is None:
        raise NotFound(f"Tag '{tag_name}' does not exist")
    return row


def set_tag(ctx: Context, owner: str, name: str, tag_name: str, top_hash: str, expected_hash=UNSET) -> None:
    """Create or move a tag: the owner, or anyone signed in on a team package. With
    `expected_hash` (None: "the tag must not exist yet") a concurrent move is a 409, not lost."""
    permissions.require_user(ctx.actor)
    # Only here: get and delete look any name up exactly, so a tag stored before the rule can go.
    names.check_tag_name(tag_name)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.check_tag_write(ctx, package)
    instance = find_instance(ctx.session, package.id, top_hash)
    if instance is None:
        raise NotFound("Package hash does not exist")
    if expected_hash is UNSET:
        move_tag(ctx, package, instance, tag_name)
    else:
        _compare_and_move(ctx, package, instance, tag_name, expected_hash)


def _compare_and_move(ctx: Context, package: Package, instance: Instance, tag_name: str,
                      expected_hash: str | None) -> None:
    """Move the tag only if it still points at `expected_hash` (None: only create it). The test
    and the move are one statement (a conditional UPDATE, or an INSERT the unique key guards), so
    of any number of concurrent moves from the same state exactly one wins, on every database:
    a plain read first would see a snapshot older than the package lock."""
    if expected_hash is None:
        if tagged_instance(ctx, package, tag_name) is not None:
            raise _moved_conflict(ctx, package, tag_name, expected_hash)
        # A concurrent creator makes this flush fail; the retried request then sees its tag.
        ctx.session.add(Tag(package_id=package.id, name=tag_name, instance_id=instance.id, updated_by=ctx.actor.name))
        ctx.session.flush()
        return
    expected = select(Instance.id).where(Instance.package_id == package.id, Instance.hash == expected_hash)
    moved = ctx.session.execute(
        update(Tag).where(Tag.package_id == package.id, Tag.name == tag_name,
                          Tag.instance_id == expected.scalar_subquery())
        .values(instance_id=instance.id, updated_at=utcnow(), updated_by=ctx.actor.name)
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise _moved_conflict(ctx, package, tag_name, expected_hash)


def _moved_conflict(ctx: Context, package: Package, tag_name: str, expected_hash: str | None) -> Conflict:
    current = tagged_instance(ctx, package, tag_name)
    return Conflict(f"Tag '{tag_name}' points to {current.hash if current else 'nothing'}, "
                    f"not {expected_hash or 'nothing'}: it was moved by someone else")


def delete_tag(ctx: Context, owner: str, name: str, tag_name: str) -> None:
    permissions.require_user(ctx.actor)
    package = permissions.readable_package(ctx, owner, name, for_update=True)
    permissions.require_owner(ctx, package, "Only the package owner can delete tags")
    tag = ctx.session.scalar(select(Tag).where(Tag.package_id == package.id, Tag.name == tag_name))
    if tag is None:
        raise NotFound(f"Package {owner}/{name} tag '{tag_name}' does not exist")
    ctx.session.delete(tag)
