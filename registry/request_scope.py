"""What the API (registry/api) and the pages (registry/web) both need of the request they
serve: its database session, the registry's public address, a service Context for a caller.

Kept here, apart from both, so that neither layer imports the other (tests/test_layers.py).
"""

from __future__ import annotations

from flask import g, request

from .services.context import Actor, Context
from .state import state
from .unit_of_work import db_session

__all__ = ["base_url", "db_session", "context_for"]


def base_url() -> str:
    """REGISTRY_PUBLIC_URL, or the origin the request came to when none is set."""
    url = g.get("base_url")
    if url is None:
        url = g.base_url = state().settings.public_url.rstrip("/") or request.host_url.rstrip("/")
    return url


def context_for(actor: Actor) -> Context:
    """The service Context of this request for `actor`."""
    registry = state()
    url = base_url()
    return Context(session=db_session(), settings=registry.settings, store=registry.store.bind(url),
                   actor=actor, base_url=url)
