"""What every service call needs: the database session, settings, blob store and the caller."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from ..config import Settings
from ..models import User
from ..read_cache import UNCACHED, CachedReads, Uncached
from ..storage import BlobStore


OPERATOR_NAME = "operator"


@dataclasses.dataclass(frozen=True)
class Actor:
    """The caller: a signed-in user, anonymous (no user), or the operator at the server's
    console (`registry ...` commands), who may read and administer everything."""

    user: User | None = None
    is_operator: bool = False
    # Read once: after a rolled-back unit of work the ORM row is expired, and error pages and
    # request logs must not reload it from a database that may be the thing that failed.
    name: str | None = dataclasses.field(init=False, default=None)

    def __post_init__(self):
        object.__setattr__(self, "name", self.user.name if self.user else None)

    @property
    def audit_name(self) -> str | None:
        """Who events record: the user, or `operator` for the management CLI."""
        return OPERATOR_NAME if self.is_operator else self.name

    @property
    def is_anonymous(self) -> bool:
        return self.user is None and not self.is_operator

    @property
    def is_admin(self) -> bool:
        return self.is_operator or bool(self.user and self.user.is_admin)


ANONYMOUS = Actor()
OPERATOR = Actor(is_operator=True)


@dataclasses.dataclass(frozen=True)
class Context:
    session: Session
    settings: Settings
    store: BlobStore
    actor: Actor = ANONYMOUS
    # Where people open packages in a browser (package_url); the request's origin by default.
    base_url: str = ""
    # The hot metadata reads (registry.read_cache): kept answers in a request, none elsewhere.
    reads: CachedReads | Uncached = UNCACHED
