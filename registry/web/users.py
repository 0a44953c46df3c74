"""A user's page: their packages that the viewer may see, a hundred at a time."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..services import listings
from .view_models import listing_page
from .viewer import viewer_context

bp = Blueprint("user_pages", __name__)


@bp.get("/user/<name>")
def user(name: str):
    # A page at a time: `?after=NAME` starts after that package (the "Next" link names the last shown).
    page = listings.owner_packages(viewer_context(), name, request.args.get("after") or None)
    return render_template("user.html", page=listing_page(page))
