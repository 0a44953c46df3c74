from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, Hash, Timestamp


class ThrottleCounter(Base):
    """Tries of one throttled action by one account or client address, within a window that
    starts at the first try (services/throttle.py). The key is an HMAC, so the table names no
    user or address."""

    __tablename__ = "throttle_counter"

    key: Mapped[str] = mapped_column(Hash(), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp())
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp(), index=True)
