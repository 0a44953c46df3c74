"""User accounts."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from ..db import utcnow
from .. import names
from ..errors import BadRequest, Conflict, NotFound
from ..models import User
from .tokens import revoke_all

USERNAME_RE = names.USERNAME_RE  # whole-string even with .match (it ends in \Z)
RESERVED_NAMES = {"team", "public", "anonymous", "quilt", "operator"}  # operator: the CLI in audit logs
EMAIL_RE = re.compile(r"^([^\s@]+)@([^\s@]+)$")
MAX_EMAIL_LENGTH = 254  # the column's size
PASSWORD_LINK_SECONDS = 24 * 3600


def validate_username(name: str) -> None:
    names.check_username(name)
    if name in RESERVED_NAMES:
        raise BadRequest(f"Invalid username. '{name}' is reserved.")


def validate_email(email: str) -> None:
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
        raise BadRequest("Invalid email.")


def create_user(session: Session, name: str, *, password: str | None = None, email: str | None = None,
                is_admin: bool = False) -> User:
    validate_username(name)
    if email is not None:
        validate_email(email)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict("Username already taken.")
    if email and session.scalar(select(User.id).where(func.lower(User.email) == email.lower())) is not None:
        raise Conflict("Email already taken.")
    user = User(name=name, email=email, is_admin=is_admin, is_active=True,
                password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"User {name} does not exist")
    return user


def get_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id (from the session's identity map when already loaded), or None."""
    return session.get(User, user_id)


@functools.cache
def _dummy_password_hash() -> str:
    """A hash of the same cost as real ones (made the same way), for names without a password."""
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, or None (never says which part was wrong).
    Takes as long for an unknown name, or an account without a password, as for a wrong
    password: those are checked against a dummy hash, so timing does not reveal who exists."""
    user = session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else None
    if not stored or stored.startswith("!"):  # "!": made unusable (make_password_unusable)
        verify_password(_dummy_password_hash(), password)
        return None
    if not verify_password(stored, password) or not user.is_active:
        return None
    user.last_login = utcnow()
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id)))


# Password links: what an administrator hands on instead of the original's e-mails.

def make_password_unusable(user: User) -> None:
    """A random marker no password matches. Unlike None, every reset gives a new marker, so
    links issued before the reset (which fingerprint the old value) stop working."""
    user.password_hash = "!" + secrets.token_hex(16)


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _link_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="password-reset")


def password_token(secret_key: str, user: User) -> str:
    """Valid for 24 hours and only while the password is unchanged, hence single-use."""
    return _link_serializer(secret_key).dumps({"u": user.id, "p": _fingerprint(user)})


def password_url(base_url: str, secret_key: str, user: User) -> str:
    return f"{base_url}/password/{password_token(secret_key, user)}"


def user_for_password_token(session: Session, secret_key: str, token: str, *, for_update: bool = False) -> User:
    try:
        claims = _link_serializer(secret_key).loads(token, max_age=PASSWORD_LINK_SECONDS)
        user_id, fingerprint = claims["u"], claims["p"]
    except (BadSignature, KeyError, TypeError):
        user_id, fingerprint = None, None
    user = session.get(User, user_id, with_for_update=for_update) if isinstance(user_id, int) else None
    if user is None or not user.is_active or _fingerprint(user) != fingerprint:
        raise NotFound("This password link is not valid: it has expired or was already used. "
                       "Ask an administrator for a new one.")
    return user


def set_password_with_token(session: Session, secret_key: str, token: str, password: str, confirm: str) -> User:
    """Set the password a link is for; every existing session of the user ends."""
    # The row lock makes two simultaneous uses of one link set the password only once.
    user = user_for_password_token(session, secret_key, token, for_update=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if password != confirm:
        raise BadRequest("The two passwords do not match.")
    user.password_hash = hash_password(password)
    revoke_all(session, user)
    return user
