"""What the API (registry/api) and the pages (registry/web) both need of the request they
serve: its database session, the registry's public address, a service Context for a caller.

Kept here, apart from both, so that neither layer imports the other (tests/test_layers.py).
"""

from __future__ import annotations

from flask import g, request

from .read_cache import GENERATION_KEY, UNCACHED, CachedReads, Uncached
from .services.context import Actor, Context
from .state import state
from .unit_of_work import db_session

__all__ = ["base_url", "cached_reads", "db_session", "context_for"]


def base_url() -> str:
    """REGISTRY_PUBLIC_URL, or the origin the request came to when none is set."""
    url = g.get("base_url")
    if url is None:
        url = g.base_url = state().settings.public_url.rstrip("/") or _origin()
    return url


_ORIGINS: dict[tuple, str] = {}  # what werkzeug makes of the environ's host fields (a few per deployment)
MAX_ORIGINS = 256  # a client may send any Host header: past this many, nothing more is kept


def _origin() -> str:
    """`request.host_url` without its trailing slash, worked out once per scheme and host (werkzeug
    parses and re-quotes it on every call: a tenth of a cached metadata read's time)."""
    environ = request.environ
    key = tuple(environ.get(name) for name in ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT"))
    origin = _ORIGINS.get(key)
    if origin is None:
        origin = request.host_url.rstrip("/")
        if len(_ORIGINS) < MAX_ORIGINS:
            _ORIGINS[key] = origin
    return origin


def cached_reads() -> CachedReads | Uncached:
    """This request's view of the read cache (registry.read_cache), the same for all its reads."""
    reads = g.get("cached_reads")
    if reads is None:
        cache = state().read_cache
        reads = g.cached_reads = UNCACHED if cache is None else cache.reads(request.environ.get(GENERATION_KEY))
    return reads


def context_for(actor: Actor) -> Context:
    """The service Context of this request for `actor`."""
    registry = state()
    url = base_url()
    return Context(session=db_session(), settings=registry.settings, store=registry.store.bind(url),
                   actor=actor, base_url=url, reads=cached_reads())
