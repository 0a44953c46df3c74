"""A user's page: their packages that the viewer may see."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..services import listings
from .view_models import listing_page
from .viewer import viewer_context

bp = Blueprint("user_pages", __name__)


@bp.get("/user/<name>")
def user(name: str):
    return render_template("user.html", page=listing_page(listings.owner_packages(viewer_context(), name)))
