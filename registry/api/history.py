from __future__ import annotations

from flask import Blueprint

from ..schemas import responses
from ..schemas.packages import CommentSchema
from ..services import comments, history, permissions, timeseries
from .context import json_body, service_context
from .contract import SIGNED_IN, dumped, operation
from .json_output import streamed_list

bp = Blueprint("history", __name__, url_prefix="/api")


@bp.get("/log/<owner>/<name>/")
@operation("History", "The push history of a package, oldest first", responses.Log)
def package_log(owner: str, name: str):
    # Sent as it is read, a thousand pushes at a time: the log of a package pushed 50,000 times
    # with long messages is 500 MB of JSON, which was held whole (three times over, as objects).
    return streamed_list("logs", history.log_entries(service_context(), owner, name))


@bp.get("/package_timeseries/<owner>/<name>/<event_type>")
@operation("History", "Weekly counts of one kind of event over the last year", responses.Timeseries)
def package_timeseries(owner: str, name: str, event_type: str):
    return dumped(responses.Timeseries, timeseries.package_timeseries(service_context(), owner, name, event_type))


@bp.get("/comments/<owner>/<name>/")
@operation("History", "The comments on a package", responses.CommentList)
def list_comments(owner: str, name: str):
    return streamed_list("comments", comments.comment_entries(service_context(), owner, name))  # as the log


@bp.post("/comments/<owner>/<name>/")
@operation("History", "Comment on a package", responses.CommentAdded, body=CommentSchema, auth=SIGNED_IN)
def add_comment(owner: str, name: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)
    body = CommentSchema().load(json_body() or {})
    comment = comments.add_comment(ctx, owner, name, body["contents"])
    return dumped(responses.CommentAdded, {"comment": comment})
