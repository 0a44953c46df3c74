"""The JSON API under /api, as the quilt 2.x client speaks it (protocol.md)."""

from __future__ import annotations

from flask import Flask

from . import (access, audit, auth, discovery, history, limits, objects, openapi, packages, tags, uploads, users,
               versions)


def register_api(app: Flask) -> None:
    for module in (auth, packages, tags, versions, access, history, discovery, objects, users, audit, uploads, limits,
                   openapi):
        app.register_blueprint(module.bp)
