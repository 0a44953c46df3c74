"""Pages that are not packages: home (search box, recently updated packages), health, robots."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from .. import metrics
from ..request_scope import base_url
from ..services import health, listings
from ..state import state
from .view_models import listed
from .viewer import viewer_context

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    recent = [listed(item) for item in listings.recent(viewer_context())]
    return render_template("home.html", registry_url=base_url(), recent=recent)


@bp.get("/healthcheck")
def healthcheck():
    """200 only when the database and the blob store both answer, each within
    REGISTRY_HEALTHCHECK_TIMEOUT; the JSON body names what is down."""
    registry = state()
    engine = health.probe_engine(registry.settings, registry.engine, current_app.extensions)
    report = health.check(engine, registry.store, registry.settings.healthcheck_timeout)
    response = jsonify(report)
    if report["status"] != health.OK:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/metrics")
def prometheus_metrics():
    metrics.check_scraper(state().settings.metrics_token, request.remote_addr, request.headers.get("Authorization"))
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/robots.txt")
def robots():
    return Response("User-agent: *\nDisallow: /\n", mimetype="text/plain")
