from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..schemas.packages import SearchArgs
from ..services import discovery, search
from .context import service_context

bp = Blueprint("discovery", __name__, url_prefix="/api")


@bp.get("/search/")
def search_packages():
    args = SearchArgs().load(request.args.to_dict())
    return jsonify(search.search(service_context(), args["q"], limit=args["limit"], cursor=args["cursor"]))


@bp.get("/recent_packages/")
def recent_packages():
    # A missing or malformed count means the default, as in the original.
    return jsonify({"packages": discovery.recent_packages(service_context(), request.args.get("count", 10, type=int))})


@bp.get("/profile")
def profile():
    return jsonify(discovery.profile(service_context()))
