"""The audit trail (protocol.md 10.6)."""

from __future__ import annotations

import json

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from .. import metrics
from ..models import Event
from ..names import MAX_NAME_LENGTH, is_username
from .context import Context

PUSH, INSTALL, PREVIEW, DELETE = "PUSH", "INSTALL", "PREVIEW", "DELETE"
# Account events: no package (owner and name are empty); `user` is the account concerned.
LOGIN_FAILED, TOKEN_REUSED = "LOGIN_FAILED", "TOKEN_REUSED"


def record_event(ctx: Context, kind: str, owner: str, name: str, package_hash: str | None = None,
                 extra: dict | None = None) -> None:
    metrics.PACKAGE_EVENTS.labels(kind).inc()
    ctx.session.add(Event(user=ctx.actor.audit_name, type=kind, package_owner=owner, package_name=name,
                          package_hash=package_hash, extra=None if extra is None else json.dumps(extra)))


def record_account_event(engine: Engine, kind: str, name: str, extra: dict) -> None:
    """Committed at once, in a transaction of its own: the request that reports a failed sign-in
    answers an error and rolls its own work back, but the event must stay. A `name` that cannot
    be a user name is kept in `extra` instead."""
    user = name if is_username(name) else None
    if user is None:
        extra = {**extra, "name": name[:MAX_NAME_LENGTH]}
    with engine.begin() as connection:
        connection.execute(insert(Event).values(user=user, type=kind, package_owner="", package_name="",
                                                extra=json.dumps(extra)))
