"""What every service call needs: the database session, settings, blob store and the caller."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from ..config import Settings
from ..models import User
from ..storage import BlobStore


@dataclasses.dataclass(frozen=True)
class Actor:
    """The caller: a signed-in user, or anonymous (`user is None`)."""

    user: User | None = None

    @property
    def name(self) -> str | None:
        return self.user.name if self.user else None

    @property
    def is_anonymous(self) -> bool:
        return self.user is None

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)


ANONYMOUS = Actor()


@dataclasses.dataclass(frozen=True)
class Context:
    session: Session
    settings: Settings
    store: BlobStore
    actor: Actor = ANONYMOUS
    # Where people open packages in a browser (package_url); the request's origin by default.
    base_url: str = ""
