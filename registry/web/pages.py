"""Pages that are not packages: home (search box, recently updated packages), health, robots."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from sqlalchemy import text

from .. import metrics
from ..api.context import base_url, db_session
from ..errors import RegistryError
from ..services import listings
from ..state import state
from .viewer import viewer_context

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("home.html", registry_url=base_url(), recent=listings.recent(viewer_context()))


@bp.get("/healthcheck")
def healthcheck():
    """200 `ok` only when the database and the blob store both answer."""
    try:
        db_session().execute(text("SELECT 1"))
        state().store.check()
    except RegistryError as exc:
        return Response(f"unhealthy: {exc.message}\n", status=503, mimetype="text/plain")
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return Response(f"unhealthy: database: {type(exc).__name__}\n", status=503, mimetype="text/plain")
    return Response("ok", mimetype="text/plain")


@bp.get("/metrics")
def prometheus_metrics():
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/robots.txt")
def robots():
    return Response("User-agent: *\nDisallow: /\n", mimetype="text/plain")
