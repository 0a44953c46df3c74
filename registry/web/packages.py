"""The package page (latest, or `?tag=` / `?version=`) and the instance page (by hash)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..services import browse
from .viewer import viewer_context

bp = Blueprint("package_pages", __name__)


@bp.get("/package/<owner>/<name>")
def package(owner: str, name: str):
    page = browse.package_page(viewer_context(), owner, name, tag=request.args.get("tag"),
                               version=request.args.get("version"))
    return render_template("package.html", page=page)


@bp.get("/package/<owner>/<name>/<top_hash>")
def instance(owner: str, name: str, top_hash: str):
    page = browse.package_page(viewer_context(), owner, name, top_hash=top_hash)
    return render_template("package.html", page=page)
