"""Pages that are not packages: home (search box, recently updated packages), health, robots."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from sqlalchemy.engine import Engine

from .. import metrics
from ..api.context import base_url
from ..db import DatabaseTimeouts, make_engine
from ..services import health, listings
from ..state import state
from .viewer import viewer_context

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("home.html", registry_url=base_url(), recent=listings.recent(viewer_context()))


@bp.get("/healthcheck")
def healthcheck():
    """200 only when the database and the blob store both answer, each within
    REGISTRY_HEALTHCHECK_TIMEOUT; the JSON body names what is down."""
    registry = state()
    report = health.check(_health_engine(), registry.store, registry.settings.healthcheck_timeout)
    response = jsonify(report)
    if report["status"] != health.OK:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response


def _health_engine() -> Engine:
    """A connection per check with the check's own short timeouts, so a hung server or a pool
    busy with hung requests cannot hold it (an embedded SQLite file needs none of that)."""
    registry = state()
    if registry.settings.is_embedded_database:
        return registry.engine
    engine = current_app.extensions.get("registry_health_engine")
    if engine is None:
        timeout = registry.settings.healthcheck_timeout
        engine = make_engine(registry.settings.effective_database_url,
                             DatabaseTimeouts(connect=timeout, read=timeout, write=timeout), pooled=False)
        current_app.extensions["registry_health_engine"] = engine
    return engine


@bp.get("/metrics")
def prometheus_metrics():
    metrics.check_scraper(state().settings.metrics_token, request.remote_addr, request.headers.get("Authorization"))
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/robots.txt")
def robots():
    return Response("User-agent: *\nDisallow: /\n", mimetype="text/plain")
