from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, Hash, Id, Name, Timestamp, utcnow


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(Name(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    # None means "no usable password" (e.g. reset by an administrator).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(Timestamp())


class LoginCode(Base):
    """A one-time code shown on the /login page and exchanged by `quilt login`.
    Only its SHA-256 is stored, so a database leak does not leak usable codes."""

    __tablename__ = "login_code"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(Hash(), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp())


class RefreshToken(Base):
    """A long-lived, revocable refresh token (stored hashed). Access tokens are short-lived,
    signed, and name the refresh token they came from, so revoking it ends them too."""

    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(Hash(), unique=True)
    # The token_hash of the first token of its rotation chain: a revoked token presented again
    # (stolen, or replayed) revokes the whole family, the thief's successors included.
    family: Mapped[str] = mapped_column(Hash(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())


class WebSession(Base):
    """A signed-in browser. The session cookie holds a random secret whose SHA-256 is stored
    here, so people can list their sessions and end any of them from another browser."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(Hash(), unique=True)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp())
