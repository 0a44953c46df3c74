from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, Hash, Name, Timestamp, utcnow


class Event(Base):
    """The audit trail. Names, not foreign keys: events outlive deleted packages and users."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    user: Mapped[str | None] = mapped_column(Name(64))
    type: Mapped[str] = mapped_column(String(16))  # PUSH, INSTALL, PREVIEW, DELETE
    package_owner: Mapped[str] = mapped_column(Name(64))
    package_name: Mapped[str] = mapped_column(Name(64))
    package_hash: Mapped[str | None] = mapped_column(Hash())
    extra: Mapped[str | None] = mapped_column(Text)  # JSON

    __table_args__ = (
        Index("ix_event_package", "package_owner", "package_name"),
        # A package's events of one kind by time: its weekly counts read only the last year's
        # entries, and its total only this index (services.timeseries).
        Index("ix_event_package_type_created_at", "package_owner", "package_name", "type", "created_at"),
        Index("ix_event_user", "user"),
    )
