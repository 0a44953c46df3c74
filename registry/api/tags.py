from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas import responses
from ..schemas.packages import TagSchema
from ..services import permissions, tags
from .context import json_body, service_context
from .contract import SIGNED_IN, dumped, operation
from .json_output import streamed_list
from .response_cache import allow_caching

bp = Blueprint("tags", __name__, url_prefix="/api")


@bp.get("/tag/<owner>/<name>/")
@operation("Tags", "The tags of a package", responses.TagList)
def list_tags(owner: str, name: str):
    return streamed_list("tags", tags.tag_entries(service_context(), owner, name))


@bp.get("/tag/<owner>/<name>/<tag>")
@operation("Tags", "The instance a tag points to", responses.TaggedInstance)
def get_tag(owner: str, name: str, tag: str):
    answer = dumped(responses.TaggedInstance, tags.get_tag(service_context(), owner, name, tag))
    allow_caching()
    return answer


@bp.put("/tag/<owner>/<name>/<tag>")
@operation("Tags", "Point a tag at an instance (compare-and-set with expected_hash)",
           responses.Empty, body=TagSchema, auth=SIGNED_IN, errors=(403, 409))
def set_tag(owner: str, name: str, tag: str):
    ctx = service_context()
    permissions.require_user(ctx.actor)  # authenticate before validating (protocol.md 14.10)
    body = TagSchema().load(json_body() or {})
    tags.set_tag(ctx, owner, name, tag, body["hash"], body.get("expected_hash", tags.UNSET))
    return jsonify({})


@bp.delete("/tag/<owner>/<name>/<tag>")
@operation("Tags", "Delete a tag", responses.Empty, auth=SIGNED_IN, errors=(403,))
def delete_tag(owner: str, name: str, tag: str):
    tags.delete_tag(service_context(), owner, name, tag)
    return jsonify({})
