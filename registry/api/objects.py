from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas import responses
from ..schemas.packages import HashListSchema
from ..services.objects import object_urls
from .context import json_body, service_context
from .contract import operation

bp = Blueprint("objects", __name__, url_prefix="/api")


@bp.post("/get_objects")
@operation("Packages", "Download URLs for fragments the caller may read (unknown ones are left out)",
           responses.ObjectUrls, body=HashListSchema.body_json_schema())
def get_objects():
    hashes = HashListSchema().load({"hashes": json_body()})["hashes"]
    return jsonify(object_urls(service_context(), hashes))


@bp.post("/log")
@operation("Meta", "Client analytics: accepted and dropped", responses.Empty, body={})
def client_analytics():
    """The quilt client reports builds here; we accept and drop them (protocol.md 9.14), once
    they have passed as JSON within the request's limits."""
    json_body()
    return jsonify({})
