from __future__ import annotations

from flask import Blueprint, request

from ..schemas import responses
from ..schemas.packages import RecentArgs, SearchArgs
from ..services import discovery, search
from .context import service_context
from .contract import SIGNED_IN, dumped, operation

bp = Blueprint("discovery", __name__, url_prefix="/api")


@bp.get("/search/")
@operation("Discovery", "Packages the caller may read that match every word of q",
           responses.SearchResults, query=SearchArgs)
def search_packages():
    args = SearchArgs().load(request.args.to_dict())
    return dumped(responses.SearchResults,
                  search.search(service_context(), args["q"], limit=args["limit"], cursor=args["cursor"]))


@bp.get("/recent_packages/")
@operation("Discovery", "The packages pushed to most recently", responses.RecentPackages, query=RecentArgs)
def recent_packages():
    # A missing or malformed count means the default, as in the original.
    return dumped(responses.RecentPackages,
                  {"packages": discovery.recent_packages(service_context(), request.args.get("count", 10, type=int))})


@bp.get("/profile")
@operation("Discovery", "The caller's own and shared packages", responses.Profile, auth=SIGNED_IN)
def profile():
    return dumped(responses.Profile, discovery.profile(service_context()))
