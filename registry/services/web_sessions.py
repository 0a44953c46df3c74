"""Signed-in browsers. The session cookie carries a random secret; only its SHA-256 is stored,
with the browser's User-Agent and when it was last seen, so a person can list their browsers and
end any of them. Sessions slide: each one lives WEB_SESSION_DAYS past its last use."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import User, WebSession

WEB_SESSION_DAYS = 14
# Writing on every page view would turn reads into writes; a few minutes' precision is enough.
TOUCH_INTERVAL = dt.timedelta(minutes=5)
USER_AGENT_LENGTH = 255


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_web_session(session: Session, user: User, user_agent: str | None) -> tuple[str, WebSession]:
    """A new session for `user`: the secret for the cookie, and the row. Clears the user's expired ones."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    row = WebSession(user_id=user.id, secret_hash=_digest(secret),
                     user_agent=(user_agent or "")[:USER_AGENT_LENGTH] or None, created_at=now,
                     last_seen_at=now, expires_at=now + dt.timedelta(days=WEB_SESSION_DAYS))
    session.add(row)
    session.flush()
    return secret, row


def resume_web_session(session: Session, secret: str) -> tuple[User, WebSession] | None:
    """The active user and their session for a cookie's secret, or None when it has ended."""
    now = utcnow()
    row = session.scalar(select(WebSession).where(WebSession.secret_hash == _digest(secret),
                                                  WebSession.expires_at > now))
    user = row and session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        session.execute(update(WebSession).where(WebSession.id == row.id)
                        .values(last_seen_at=now, expires_at=now + dt.timedelta(days=WEB_SESSION_DAYS)))
    return user, row


def end_web_session(session: Session, secret: str) -> None:
    session.execute(delete(WebSession).where(WebSession.secret_hash == _digest(secret)))
