"""Search results: the API's search (same matching, ranking, permissions), a page at a time."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..errors import BadRequest
from ..services import listings
from .view_models import listing_page
from .viewer import viewer_context

bp = Blueprint("search", __name__)


@bp.get("/search")
def search():
    query = request.args.get("q", "").strip()
    try:
        page = listings.search_page(viewer_context(), query, request.args.get("cursor") or None)
    except BadRequest as exc:
        return render_template("search.html", page=None, query=query, error=exc.message), 400
    return render_template("search.html", page=listing_page(page), query=query, error=None)
