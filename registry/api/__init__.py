"""The JSON API under /api, as the quilt 2.x client speaks it (protocol.md)."""

from __future__ import annotations

from flask import Flask

from . import auth, objects, packages, tags


def register_api(app: Flask) -> None:
    for module in (auth, packages, tags, objects):
        app.register_blueprint(module.bp)
