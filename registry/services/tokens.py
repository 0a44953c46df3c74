"""Login codes, refresh tokens and access tokens (protocol.md 6 and 9.1.2).

- A login code is shown once on /login, lives 10 minutes and is consumed by its first use.
- A refresh token lives long, is stored hashed, and rotates: exchanging it revokes it.
- An access token is short-lived and signed; it names its refresh token, so revoking that
  (logout, disabling the user) ends the access token at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import epoch, utcnow
from ..errors import Forbidden, NotFound, Unauthorized
from ..models import LoginCode, RefreshToken, User, WebSession


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class TokenPair:
    refresh_token: str
    access_token: str
    expires_at: int

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


class TokenService:
    def __init__(self, settings: Settings, secret_key: str):
        self.settings = settings
        self._serializer = URLSafeSerializer(secret_key, salt="access-token")

    # Login codes

    def issue_code(self, session: Session, user: User) -> str:
        # Hex: easy to copy, and never starts with "-", which command lines would take for an option.
        code = secrets.token_hex(16)
        expires = utcnow() + dt.timedelta(seconds=self.settings.login_code_seconds)
        session.add(LoginCode(user_id=user.id, code_hash=_digest(code), expires_at=expires))
        session.flush()
        return code

    def exchange(self, session: Session, secret: str) -> TokenPair:
        """`POST /api/token`: a login code or a refresh token in, a fresh token pair out."""
        user = self._consume_code(session, secret) or self._consume_refresh_token(session, secret)
        if user is None:
            raise Unauthorized("Token invalid.")
        if not user.is_active:
            raise Unauthorized("Account is inactive.")
        return self.issue_tokens(session, user)

    def _consume_code(self, session: Session, code: str) -> User | None:
        now = utcnow()
        row = session.scalar(select(LoginCode).where(LoginCode.code_hash == _digest(code)))
        if row is None:
            return None
        # Deleting by id and counting the rows makes the code single-use even under races.
        deleted = session.execute(delete(LoginCode).where(LoginCode.id == row.id)).rowcount
        if deleted != 1 or row.expires_at < now:
            raise Unauthorized("Code invalid")
        return session.get(User, row.user_id)

    def _consume_refresh_token(self, session: Session, token: str) -> User | None:
        now = utcnow()
        revoked = session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == _digest(token), RefreshToken.revoked_at.is_(None),
                   RefreshToken.expires_at > now)
            .values(revoked_at=now, last_used_at=now)
        ).rowcount
        if revoked != 1:
            return None
        user_id = session.scalar(select(RefreshToken.user_id).where(RefreshToken.token_hash == _digest(token)))
        return session.get(User, user_id)

    def issue_tokens(self, session: Session, user: User) -> TokenPair:
        refresh = secrets.token_urlsafe(32)
        now = utcnow()
        row = RefreshToken(user_id=user.id, token_hash=_digest(refresh), created_at=now,
                           expires_at=now + dt.timedelta(days=self.settings.refresh_token_days))
        session.add(row)
        session.flush()
        expires_at = int(epoch(now)) + self.settings.access_token_seconds
        access = self._serializer.dumps({"u": user.id, "r": row.id, "x": expires_at})
        return TokenPair(refresh_token=refresh, access_token=access, expires_at=expires_at)

    # Access tokens

    def authenticate(self, session: Session, access_token: str) -> User:
        """The user behind a bearer token; 401 when it is invalid, 403 when the account is disabled."""
        try:
            claims = self._serializer.loads(access_token)
            user_id, refresh_id, expires_at = claims["u"], claims["r"], claims["x"]
        except (BadSignature, KeyError, TypeError):
            raise Unauthorized("Token invalid.") from None
        if expires_at < epoch(utcnow()):
            raise Unauthorized("Token invalid.")
        user = session.scalar(
            select(User).join(RefreshToken, RefreshToken.user_id == User.id)
            .where(RefreshToken.id == refresh_id, User.id == user_id, RefreshToken.revoked_at.is_(None)))
        if user is None:
            raise Unauthorized("Token invalid.")
        if not user.is_active:
            raise Forbidden("Account is inactive. Must have an active account.")
        return user

    def revoke_session(self, session: Session, access_token: str) -> None:
        """Logout: revoke the refresh token this access token came from."""
        claims = self._serializer.loads(access_token)
        session.execute(update(RefreshToken).where(RefreshToken.id == claims["r"], RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))

    def revoke_all(self, session: Session, user: User) -> None:
        revoke_all(session, user)


def revoke_all(session: Session, user: User) -> None:
    """End every session of a user: refresh tokens (and so their access tokens), login codes and
    signed-in browsers.
    Needs no secret, so account services call it without a TokenService."""
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    session.execute(delete(LoginCode).where(LoginCode.user_id == user.id))
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def list_refresh_tokens(session: Session, user_name: str | None = None) -> list[dict]:
    """Refresh tokens (sessions of clients), newest first; the secrets themselves are never stored."""
    query = (select(RefreshToken, User.name).join(User, User.id == RefreshToken.user_id)
             .order_by(RefreshToken.created_at.desc(), RefreshToken.id.desc()))
    if user_name is not None:
        query = query.where(User.name == user_name)
    now = utcnow()
    return [{"id": token.id, "user": name, "created_at": epoch(token.created_at),
             "last_used_at": epoch(token.last_used_at), "expires_at": epoch(token.expires_at),
             "state": "revoked" if token.revoked_at else ("expired" if token.expires_at < now else "active")}
            for token, name in session.execute(query)]


def revoke_refresh_token(session: Session, token_id: int) -> None:
    revoked = session.execute(update(RefreshToken).where(RefreshToken.id == token_id, RefreshToken.revoked_at.is_(None))
                              .values(revoked_at=utcnow())).rowcount
    if not revoked:
        raise NotFound(f"No active token with id {token_id}")
