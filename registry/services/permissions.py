"""The one place that decides who may read and write a package (protocol.md 3.7 and 10.5).

Rule of thumb: a package the caller may not read behaves exactly like a package that does not
exist, so nothing here ever tells a stranger that a private package is there.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import bindparam, exists, select, true
from sqlalchemy.sql import ColumnElement

from ..errors import Forbidden, NotFound, Unauthorized
from ..models import Access, Blob, ChunkBlob, Instance, InstanceChunk, Package
from .bulk import select_in
from .fragment_sets import Stored
from .context import Actor, Context

PUBLIC = "public"
TEAM = "team"


def principals(ctx: Context) -> set[str]:
    """Access-row principals that make a package readable for the caller."""
    allowed = set()
    if ctx.settings.allow_anonymous_access:
        allowed.add(PUBLIC)
    if not ctx.actor.is_anonymous:
        allowed.add(ctx.actor.name)
        if ctx.settings.allow_team_access:
            allowed.add(TEAM)
    return allowed


# The same condition with the principals as parameters, for statements built once (below, and
# the read paths of services.tags and services.packages): SQLAlchemy then reuses the compiled SQL
# instead of building and compiling a statement per request. A caller has at most three
# principals (`public`, their name, `team`); unused places are NULL, which matches no row.
_PRINCIPAL_PARAMS = ("readable_0", "readable_1", "readable_2")
_READABLE = exists().where(Access.package_id == Package.id,
                           Access.principal.in_([bindparam(name) for name in _PRINCIPAL_PARAMS]))
_EVERYTHING = true()


def readable_clause(ctx: Context, *, prebuilt: bool = False) -> ColumnElement[bool]:
    """SQL condition on Package: the caller may read it. `prebuilt`: the one clause object shared
    by statements built once, which then need `readable_params(ctx)` when they run."""
    if ctx.actor.is_operator:
        return _EVERYTHING if prebuilt else true()
    if prebuilt:
        return _READABLE
    return exists().where(Access.package_id == Package.id, Access.principal.in_(principals(ctx)))


def shared_with(principal: str) -> ColumnElement[bool]:
    """SQL condition on Package: it is shared with `principal` (`public`, `team`, a user name);
    selected as a column, the sharing flags of each package of a list in the list's statement."""
    return exists().where(Access.package_id == Package.id, Access.principal == principal)


def readable_params(ctx: Context) -> dict:
    """The parameters of `readable_clause(ctx, prebuilt=True)`."""
    if ctx.actor.is_operator:
        return {}
    allowed = sorted(principals(ctx))
    allowed += [None] * (len(_PRINCIPAL_PARAMS) - len(allowed))
    return dict(zip(_PRINCIPAL_PARAMS, allowed, strict=True))


def readable_fragments(ctx: Context, owner: str, hashes: Iterable[str]) -> dict[str, Stored]:
    """The owner's stored fragments the caller may read, so may name in a push without
    uploading them: those in an instance of a package the caller can read. The owner reads
    every package of their own, so for them that is every fragment they have a row for (one
    indexed lookup, no join). A fragment left out must look to the caller exactly as if it were
    not stored at all."""
    query = select(Blob.hash, Blob.size, Blob.batch).where(Blob.owner == owner)
    if ctx.actor.name != owner and not ctx.actor.is_operator:
        in_readable = (select(ChunkBlob.blob_id)
                       .join(InstanceChunk, InstanceChunk.chunk_id == ChunkBlob.chunk_id)
                       .join(Instance, Instance.id == InstanceChunk.instance_id)
                       .join(Package, Package.id == Instance.package_id)
                       .where(ChunkBlob.blob_id == Blob.id, readable_clause(ctx)))
        query = query.where(in_readable.exists())
    return {h: Stored(size, batch) for h, size, batch in select_in(ctx.session, query, Blob.hash, hashes)}


def package_not_found(actor: Actor, owner: str, name: str) -> NotFound:
    hint = " (do you need to log in?)" if actor.is_anonymous else ""
    return NotFound(f"Package {owner}/{name} does not exist{hint}")


def require_user(actor: Actor) -> None:
    if actor.is_anonymous:
        raise Unauthorized("Not logged in")


_FIND_READABLE: dict[tuple[bool, bool], object] = {}


def find_readable(ctx: Context, owner: str, name: str, *, for_update: bool = False) -> Package | None:
    key = (ctx.actor.is_operator, for_update)
    query = _FIND_READABLE.get(key)
    if query is None:
        query = select(Package).where(Package.owner == bindparam("owner"), Package.name == bindparam("name"),
                                      readable_clause(ctx, prebuilt=True))
        if for_update:
            query = query.with_for_update()
        query = _FIND_READABLE.setdefault(key, query)
    return ctx.session.scalars(query, {"owner": owner, "name": name, **readable_params(ctx)}).first()


def readable_package(ctx: Context, owner: str, name: str, *, for_update: bool = False) -> Package:
    package = find_readable(ctx, owner, name, for_update=for_update)
    if package is None:
        raise package_not_found(ctx.actor, owner, name)
    return package


def access_flags(ctx: Context, package: Package) -> tuple[bool, bool]:
    """(is_public, is_team) as the protocol reports them."""
    rows = set(ctx.session.scalars(select(Access.principal).where(
        Access.package_id == package.id, Access.principal.in_((PUBLIC, TEAM)))))
    return PUBLIC in rows, TEAM in rows


def is_team_writable(ctx: Context, package: Package) -> bool:
    """Team packages may be pushed to and tagged by every signed-in user (protocol.md 10.5)."""
    return ctx.settings.allow_team_access and access_flags(ctx, package)[1]


def require_owner(ctx: Context, package: Package, message: str) -> None:
    """For callers who can already read the package; strangers got a 404 before this."""
    if ctx.actor.name != package.owner and not ctx.actor.is_operator:
        raise Forbidden(message)


def can_write(ctx: Context, package: Package) -> bool:
    """Push and move tags: the owner, or any signed-in user on a team package (protocol.md 10.5)."""
    return ctx.actor.name == package.owner or is_team_writable(ctx, package)


def check_push(ctx: Context, package: Package, *, is_public: bool, is_team: bool) -> None:
    """May the caller push a new instance to this existing (readable) package?"""
    has_public, has_team = access_flags(ctx, package)
    team_writable = has_team and ctx.settings.allow_team_access
    if ctx.actor.name != package.owner and not team_writable:
        raise Forbidden("Only the package owner can push private packages.")
    if is_public and not has_public:
        raise Forbidden(f"{package.handle} is private. To make it public, run "
                        f"`quilt access add {package.handle} public`.")
    if is_team and not has_team:
        raise Forbidden(f"{package.handle} is private. To share it with the team, run "
                        f"`quilt access add {package.handle} team`.")


def check_sharing_allowed(ctx: Context, *, is_public: bool, is_team: bool) -> None:
    if is_public and not ctx.settings.allow_anonymous_access:
        raise Forbidden("Public access not allowed")
    if is_team and not ctx.settings.allow_team_access:
        raise Forbidden("Team access not allowed")


def check_tag_write(ctx: Context, package: Package) -> None:
    if not can_write(ctx, package):
        raise Forbidden("Private package: only the package owner can modify tags")


def require_admin(actor: Actor) -> None:
    """users/*, audit and admin/* (protocol.md 10.5): anonymous 401 first, then non-admins 403."""
    require_user(actor)
    if not actor.is_admin:
        raise Forbidden("Must be authenticated as an admin to use this endpoint.")


def is_owner(ctx: Context, package: Package) -> bool:
    """Whether the caller owns the package: owner-only parts of a page (the access list) ask this."""
    return ctx.actor.user is not None and ctx.actor.name == package.owner
