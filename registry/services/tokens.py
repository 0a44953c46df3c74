"""Login codes, refresh tokens and access tokens (protocol.md 6 and 9.1.2).

- A login code is shown once on /login, lives 10 minutes and is consumed by its first use.
- A refresh token lives long, is stored hashed, and rotates: exchanging it revokes it. Its
  successors form a family; a revoked token presented again means two parties hold the chain
  (a stolen token, replayed), so the whole family is revoked (reuse detection).
- An access token is short-lived and signed; it names its refresh token, so revoking that
  (logout, disabling the user) ends the access token at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased, make_transient_to_detached

from ..config import Settings
from ..db import epoch, utcnow
from ..errors import Forbidden, NotFound, Unauthorized
from ..models import LoginCode, RefreshToken, User, WebSession
from ..read_cache import UNCACHED, CachedReads, Uncached
from .events import TOKEN_REUSED, record_account_event


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Built once: every authenticated API request runs it, and a statement built per call costs
# more to construct and to look up in SQLAlchemy's compiled cache than the query takes. Only the
# columns a request needs; the User is made from them (see _caller).
_TOKEN_USER = (select(User.id, User.name, User.is_admin, User.is_active)
               .join(RefreshToken, RefreshToken.user_id == User.id)
               .where(RefreshToken.id == bindparam("refresh_id"), User.id == bindparam("user_id"),
                      RefreshToken.revoked_at.is_(None)))


def _caller(row) -> User:
    """The User of `row`, made from its columns as if loaded, attached to no session: taking it
    into the request's session would cost more than the read cache's whole answer. A request
    reads these four columns of its caller; a service that needs more of the row (or changes
    it) loads it. Related objects that name it attach it to their session themselves."""
    user_id, name, is_admin, is_active = row
    user = User(id=user_id, name=name, is_admin=bool(is_admin), is_active=bool(is_active))
    make_transient_to_detached(user)  # as if loaded: no pending change, the rest expired
    return user


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
        now = utcnow()
        session.execute(delete(LoginCode).where(LoginCode.user_id == user.id, LoginCode.expires_at <= now))
        expires = now + dt.timedelta(seconds=self.settings.login_code_seconds)
        session.add(LoginCode(user_id=user.id, code_hash=_digest(code), expires_at=expires))
        session.flush()
        return code

    def exchange(self, session: Session, secret: str, *, engine: Engine) -> TokenPair:
        """`POST /api/token`: a login code or a refresh token in, a fresh token pair out.
        A replayed refresh token revokes its family through `engine`, in a transaction of its
        own: the request answers 401 and rolls back, but the revocation must stay."""
        family = None
        user = self._consume_code(session, secret)
        if user is None:
            user, family = self._consume_refresh_token(session, secret, engine)
        if user is None:
            raise Unauthorized("Token invalid.")
        if not user.is_active:
            raise Unauthorized("Account is inactive.")
        return self.issue_tokens(session, user, family=family)

    def _consume_code(self, session: Session, code: str) -> User | None:
        now = utcnow()
        row = session.scalar(select(LoginCode).where(LoginCode.code_hash == _digest(code)))
        if row is None:
            return None
        if row.expires_at < now:
            raise Unauthorized("Code invalid")  # nothing written: `registry tokens purge` removes it
        # Deleting by id and counting the rows makes the code single-use even under races.
        if session.execute(delete(LoginCode).where(LoginCode.id == row.id)).rowcount != 1:
            raise Unauthorized("Code invalid")
        return session.get(User, row.user_id)

    def _consume_refresh_token(self, session: Session, token: str, engine: Engine) -> tuple[User | None, str | None]:
        now = utcnow()
        # Read before writing: a replay is recorded through `engine` while this session has
        # written nothing (on SQLite a pending write here would hold the lock that needs).
        row = session.execute(select(RefreshToken.id, RefreshToken.user_id, RefreshToken.family,
                                     RefreshToken.revoked_at, RefreshToken.expires_at)
                              .where(RefreshToken.token_hash == _digest(token))).first()
        if row is None or row.expires_at <= now:
            return None, None
        if row.revoked_at is not None:
            revoke_family(engine, row.family, row.user_id)
            return None, None
        revoked = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now, last_used_at=now)
        ).rowcount
        if revoked != 1:  # a concurrent exchange of the same token won
            return None, None
        return session.get(User, row.user_id), row.family

    def issue_tokens(self, session: Session, user: User, *, family: str | None = None) -> TokenPair:
        """A new token pair; the refresh token continues `family`, or starts one."""
        refresh = secrets.token_urlsafe(32)
        now = utcnow()
        # The user's dead tokens go as new ones come, so the table does not grow without end.
        session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.expires_at <= now))
        row = RefreshToken(user_id=user.id, token_hash=_digest(refresh), family=family or _digest(refresh),
                           created_at=now, expires_at=now + dt.timedelta(days=self.settings.refresh_token_days))
        session.add(row)
        session.flush()
        expires_at = int(epoch(now)) + self.settings.access_token_seconds
        access = self._serializer.dumps({"u": user.id, "r": row.id, "x": expires_at})
        return TokenPair(refresh_token=refresh, access_token=access, expires_at=expires_at)

    # Access tokens

    def authenticate(self, session: Session, access_token: str) -> User:
        """The user behind a bearer token; 401 when it is invalid, 403 when the account is disabled."""
        return self.authenticate_until(session, access_token)[0]

    def authenticate_until(self, session: Session, access_token: str,
                           reads: CachedReads | Uncached = UNCACHED) -> tuple[User, float]:
        """The user behind a bearer token and when the token expires (epoch seconds). `reads`: a
        request's cached reads (registry.read_cache) may answer for the database."""
        try:
            claims = self._serializer.loads(access_token)
            user_id, refresh_id, expires_at = claims["u"], claims["r"], claims["x"]
        except (BadSignature, KeyError, TypeError):
            raise Unauthorized("Token invalid.") from None
        if expires_at < epoch(utcnow()):
            raise Unauthorized("Token invalid.")
        row = reads.first(session, "token-user", _TOKEN_USER, {"refresh_id": refresh_id, "user_id": user_id})
        if row is None:
            raise Unauthorized("Token invalid.")
        user = _caller(row)
        if not user.is_active:
            raise Forbidden("Account is inactive. Must have an active account.")
        return user, expires_at

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


def revoke_family(engine: Engine, family: str, user_id: int) -> int:
    """A revoked refresh token came back: revoke every token of its family, committed at once,
    and record it in the audit trail. Returns how many were still active."""
    with engine.begin() as connection:
        revoked = connection.execute(update(RefreshToken)
                                     .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
                                     .values(revoked_at=utcnow())).rowcount
        name = connection.scalar(select(User.name).where(User.id == user_id))
    if name is not None:
        record_account_event(engine, TOKEN_REUSED, name, {"revoked": revoked})
    return revoked


PURGE_BATCH = 1000


def purge_tokens(session: Session) -> dict[str, int]:
    """Delete what can never be used again: expired login codes; refresh tokens that expired,
    or were revoked in a family with no active token left (while one is, its revoked tokens
    stay: presenting one revokes the family); expired web sessions."""
    now = utcnow()
    codes = session.execute(delete(LoginCode).where(LoginCode.expires_at <= now)).rowcount
    sessions = session.execute(delete(WebSession).where(WebSession.expires_at <= now)).rowcount
    alive = aliased(RefreshToken)
    dead = (RefreshToken.expires_at <= now) | (RefreshToken.revoked_at.is_not(None) & ~exists().where(
        alive.family == RefreshToken.family, alive.revoked_at.is_(None), alive.expires_at > now))
    # Ids first, then deleted by id: MySQL cannot delete from a table its own subquery reads.
    ids = session.scalars(select(RefreshToken.id).where(dead)).all()
    for start in range(0, len(ids), PURGE_BATCH):
        session.execute(delete(RefreshToken).where(RefreshToken.id.in_(ids[start:start + PURGE_BATCH])))
    return {"login_codes": codes, "refresh_tokens": len(ids), "web_sessions": sessions}
