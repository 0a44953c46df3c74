from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas.packages import CommentSchema
from ..services import comments, history, permissions, timeseries
from .context import json_body, service_context

bp = Blueprint("history", __name__, url_prefix="/api")


@bp.get("/log/<owner>/<name>/")
def package_log(owner: str, name: str):
    return jsonify({"logs": history.list_log(service_context(), owner, name)})


@bp.get("/package_timeseries/<owner>/<name>/<event_type>")
def package_timeseries(owner: str, name: str, event_type: str):
    return jsonify(timeseries.package_timeseries(service_context(), owner, name, event_type))


@bp.get("/comments/<owner>/<name>/")
def list_comments(owner: str, name: str):
    return jsonify({"comments": comments.list_comments(service_context(), owner, name)})


@bp.post("/comments/<owner>/<name>/")
def add_comment(owner: str, name: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)
    body = CommentSchema().load(json_body() or {})
    comment = comments.add_comment(ctx, owner, name, body["contents"])
    return jsonify({"comment": comment})
