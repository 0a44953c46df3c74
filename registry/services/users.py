"""User accounts."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from ..db import utcnow
from ..errors import BadRequest, Conflict, NotFound
from ..models import User

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_NAMES = {"team", "public", "anonymous", "quilt"}


def validate_username(name: str) -> None:
    if not USERNAME_RE.match(name or ""):
        raise BadRequest("Username is not valid. Use 1-64 lowercase letters, digits and underscores, "
                         "starting with a letter.")
    if name in RESERVED_NAMES:
        raise BadRequest(f"Invalid username. '{name}' is reserved.")


def create_user(session: Session, name: str, *, password: str | None = None, email: str | None = None,
                is_admin: bool = False) -> User:
    validate_username(name)
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


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, or None (never says which part was wrong)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        return None
    user.last_login = utcnow()
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id)))
