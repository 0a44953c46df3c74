"""The package page (latest, or `?tag=` / `?version=`) and the instance page (by hash)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..request_scope import base_url
from ..services import browse
from .view_models import package_page
from .viewer import viewer_context

bp = Blueprint("package_pages", __name__)


@bp.get("/package/<owner>/<name>")
def package(owner: str, name: str):
    details = browse.package_details(viewer_context(), owner, name, tag=request.args.get("tag"),
                                     version=request.args.get("version"))
    return render_template("package.html", page=package_page(details, base_url()))


@bp.get("/package/<owner>/<name>/<top_hash>")
def instance(owner: str, name: str, top_hash: str):
    details = browse.package_details(viewer_context(), owner, name, top_hash=top_hash)
    return render_template("package.html", page=package_page(details, base_url()))
