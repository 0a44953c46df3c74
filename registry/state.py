"""The runtime of the app serving this request (registry.runtime builds it, for the CLI too)."""

from __future__ import annotations

from flask import current_app

from .runtime import Runtime


def state() -> Runtime:
    return current_app.extensions["registry"]
