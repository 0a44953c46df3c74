from __future__ import annotations

from flask import Blueprint, jsonify

from ..schemas.packages import HashListSchema
from ..services.objects import object_urls
from .context import json_body, service_context

bp = Blueprint("objects", __name__, url_prefix="/api")


@bp.post("/get_objects")
def get_objects():
    hashes = HashListSchema().load({"hashes": json_body()})["hashes"]
    return jsonify(object_urls(service_context(), hashes))


@bp.post("/log")
def client_analytics():
    """The quilt client reports builds here; we accept and drop them (protocol.md 9.14)."""
    return jsonify({})
