"""The audit trail (protocol.md 10.6)."""

from __future__ import annotations

import json

from .. import metrics
from ..models import Event
from .context import Context

PUSH, INSTALL, PREVIEW, DELETE = "PUSH", "INSTALL", "PREVIEW", "DELETE"


def record_event(ctx: Context, kind: str, owner: str, name: str, package_hash: str | None = None,
                 extra: dict | None = None) -> None:
    metrics.PACKAGE_EVENTS.labels(kind).inc()
    ctx.session.add(Event(user=ctx.actor.audit_name, type=kind, package_owner=owner, package_name=name,
                          package_hash=package_hash, extra=None if extra is None else json.dumps(extra)))
