from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from .. import version_order
from ..db import Base, BigId, Blob, Hash, Id, LongText, Name, ShortBytes, Timestamp, utcnow


class Package(Base):
    __tablename__ = "package"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    owner: Mapped[str] = mapped_column(Name(64))
    name: Mapped[str] = mapped_column(Name(64))
    # lower(owner)/lower(name): `alice/Foo` may not be created next to `alice/foo`, on any database.
    folded_handle: Mapped[str] = mapped_column(Name(129), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)

    __table_args__ = (UniqueConstraint("owner", "name"),)

    @property
    def handle(self) -> str:
        return f"{self.owner}/{self.name}"


class Instance(Base):
    """One immutable tree, identified within its package by the tophash."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    hash: Mapped[str] = mapped_column(Hash())
    # The tree as pushed lives in shared pieces (TreePiece, InstancePiece: services.trees).
    readme_hash: Mapped[str | None] = mapped_column(Hash())
    # Lower-cased node names: what search matches besides the name and README; shared by the
    # instances that have the same names.
    keyword_set_id: Mapped[int | None] = mapped_column(ForeignKey("keyword_set.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    created_by: Mapped[str] = mapped_column(Name(64))
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(Name(64))

    # (package_id, updated_at): a package's newest instance in one step, for the lists of recently
    # updated packages. (package_id, id): its instances in the order they were made, a batch at a time.
    __table_args__ = (UniqueConstraint("package_id", "hash"),
                      Index("ix_instance_package_id_updated_at", "package_id", "updated_at"),
                      Index("ix_instance_package_id_id", "package_id", "id"))


class TreePiece(Base):
    """A piece of a tree's canonical JSON, zlib-compressed, cut at content-defined places
    (services.trees) and shared by every instance whose tree holds the same bytes there."""

    __tablename__ = "tree_piece"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(Hash(), unique=True)  # of the uncompressed bytes
    data: Mapped[bytes] = mapped_column(Blob())


class InstancePiece(Base):
    __tablename__ = "instance_piece"

    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    piece_id: Mapped[int] = mapped_column(ForeignKey("tree_piece.id"), index=True)


class KeywordSet(Base):
    """Lower-cased node names, space-separated, shared by instances with the same names."""

    __tablename__ = "keyword_set"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(Hash(), unique=True)
    words: Mapped[str] = mapped_column(LongText())
    # Whether keyword_gram holds the grams of `words` (services.grams). Search reads the names of
    # a set that is not (too many grams, or written by an older registry) whatever the word.
    indexed: Mapped[bool] = mapped_column(Boolean, server_default=false())


class KeywordGram(Base):
    """A gram (1 to 3 bytes of the names, services.grams) that a keyword set holds: search reads
    the names of only the sets that hold every gram of a word."""

    __tablename__ = "keyword_gram"

    gram: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    keyword_set_id: Mapped[int] = mapped_column(ForeignKey("keyword_set.id", ondelete="CASCADE"), primary_key=True,
                                                index=True)


class Log(Base):
    """One row per push, oldest first by id."""

    __tablename__ = "log"

    # A package's pushes in the order they are listed (the page reads the newest, the API all in batches).
    __table_args__ = (Index("ix_log_package_id_created_at", "package_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    author: Mapped[str] = mapped_column(Name(64))
    message: Mapped[str | None] = mapped_column(Text)


class Tag(Base):
    __tablename__ = "tag"

    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(Name(64), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(Name(64))


def _version_sort_key(context) -> bytes:
    return version_order.sort_key(context.get_current_parameters()["version"])


class Version(Base):
    __tablename__ = "version"
    # The versions named last come first on the package page; all of them, in PEP 440 order, in
    # the list (services.keyset walks (package_id, sort_key, version)).
    __table_args__ = (Index("ix_version_package_id_created_at", "package_id", "created_at", "version"),
                      Index("ix_version_package_id_sort_key", "package_id", "sort_key", "version"))

    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(Name(64), primary_key=True)  # PEP 440, normalised
    # registry.version_order: bytes that sort as PEP 440 does, set from `version` on insert.
    sort_key: Mapped[bytes] = mapped_column(ShortBytes(version_order.MAX_KEY_BYTES),
                                          default=_version_sort_key)
    user_version: Mapped[str] = mapped_column(String(64))  # as the user wrote it
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    created_by: Mapped[str] = mapped_column(Name(64))


class Access(Base):
    """Who may read a package: a user name, or the pseudo-users `public` and `team`."""

    __tablename__ = "access"

    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(Name(64), primary_key=True)

    __table_args__ = (Index("ix_access_principal", "principal"),)


class Comment(Base):
    __tablename__ = "comment"
    # A package's comments in the order they are listed (services.keyset reads them in batches).
    __table_args__ = (Index("ix_comment_package_id_created_at", "package_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(Name(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    contents: Mapped[str] = mapped_column(Text)
