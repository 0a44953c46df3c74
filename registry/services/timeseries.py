"""Weekly counts of one kind of event for a package (protocol.md 9.11.5), for the catalog's charts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from ..db import epoch, utcnow
from ..errors import BadRequest
from ..models import Event
from . import permissions
from .context import Context
from .events import DELETE, INSTALL, PREVIEW, PUSH

WEEKS = 52
EVENT_TYPES = {kind.lower(): kind for kind in (PUSH, INSTALL, PREVIEW, DELETE)}


def package_timeseries(ctx: Context, owner: str, name: str, event_type: str,
                       now: dt.datetime | None = None) -> dict:
    """`timeSeries` holds 52 weekly counts, oldest first; weeks run Monday to Monday (UTC) and the
    last one ends on the coming Monday. `total` counts every such event the package ever had."""
    kind = EVENT_TYPES.get(event_type.lower())
    if kind is None:
        raise BadRequest("Event type incorrectly specified.")
    permissions.readable_package(ctx, owner, name)
    now = now or utcnow()
    end = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time()) + dt.timedelta(weeks=1)
    starts = [end - dt.timedelta(weeks=WEEKS - week) for week in range(WEEKS + 1)]  # the last one is `end`
    of_kind = (Event.package_owner == owner, Event.package_name == name, Event.type == kind)
    # Each week is one range of the index (package_owner, package_name, type, created_at), counted
    # without the table: every install of a package adds an event, so a popular package has
    # millions, and a count over all of them per request took 0.7 s at 500,000.
    weekly = [select(func.count()).where(*of_kind, Event.created_at >= starts[week], Event.created_at < starts[week + 1])
              .scalar_subquery() for week in range(WEEKS)]
    counts = ctx.session.execute(select(*weekly)).one()
    total = ctx.session.scalar(select(func.count()).where(*of_kind))
    return {"startDate": int(epoch(starts[0])), "endDate": int(epoch(end)), "frequency": "week",
            "timeSeries": [int(count) for count in counts], "total": int(total)}
