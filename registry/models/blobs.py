from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, Hash, LongText, Name, Timestamp, utcnow


class Blob(Base):
    """A fragment stored at `objs/OWNER/HASH`; shared by every package of that owner."""

    __tablename__ = "blob"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(Name(64))
    hash: Mapped[str] = mapped_column(Hash())
    size: Mapped[int] = mapped_column(BigInteger)
    # The first 640 KiB of a README fragment as text, read after the push (search, previews).
    preview: Mapped[str | None] = mapped_column(LongText())
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # Last time a push (dry run or real) named this fragment: garbage collection spares
    # fragments touched within its grace period, so a push in progress never loses one.
    touched_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # Set by `registry blobs verify`: when, and what was wrong (missing, size, corrupt) or None.
    checked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    problem: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("owner", "hash"),)


class InstanceBlob(Base):
    __tablename__ = "instance_blob"

    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id"), primary_key=True, index=True)
