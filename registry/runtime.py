"""The one place that builds what the registry runs on: the secret, the database engine and its
sessions, the blob store and the token service. `create_app` and every `registry ...` command
get them from here, so both always sign with the same secret and open the same database."""

from __future__ import annotations

import functools

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .config import Settings
from .db import DatabaseTimeouts, make_engine, make_session_factory
from .read_cache import ReadCache, make_generation, watch_commits
from .secrets import ConfigurationError, make_private_database_file, resolve_secret_key
from .services.tokens import TokenService
from .storage import BlobStore, make_store


class Runtime:
    """Each piece is made on first use and then kept: the secret is resolved once per runtime,
    and a command that needs only the database (`registry db upgrade`) needs no secret.
    `build_runtime` makes them all at once, so that the web app fails at start, not at a request."""

    def __init__(self, settings: Settings, *, timeouts: DatabaseTimeouts | None = None):
        self.settings = settings
        # The web app bounds database waits; the command line does not (migrations and gc run
        # long statements on purpose).
        self.timeouts = timeouts

    @functools.cached_property
    def secret_key(self) -> str:
        return resolve_secret_key(self.settings)

    @functools.cached_property
    def engine(self) -> Engine:
        make_private_database_file(self.settings)  # before SQLite creates it world-readable
        engine = make_engine(self.settings.effective_database_url, self.timeouts)
        watch_commits(engine, self._committed_a_write)  # the command line's writes too
        return engine

    @functools.cached_property
    def read_cache(self) -> ReadCache | None:
        """This process's cached metadata answers, or None where caching is off."""
        generation = make_generation(self.settings, lambda: self.secret_key)
        return ReadCache(generation, self.settings.read_cache_seconds) if generation else None

    def _committed_a_write(self) -> None:
        try:
            cache = self.read_cache
        except ConfigurationError:
            # A command that runs without the secret (`registry db upgrade`) cannot name the
            # Redis key; cached answers then last at most REGISTRY_READ_CACHE_SECONDS.
            return
        if cache is not None:
            cache.generation.bump()

    @functools.cached_property
    def session_factory(self) -> sessionmaker:
        return make_session_factory(self.engine)

    @functools.cached_property
    def store(self) -> BlobStore:
        return make_store(self.settings, self.secret_key)

    @functools.cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.settings, self.secret_key)

    def close(self) -> None:
        """Close the database connections, if any were opened."""
        if "engine" in self.__dict__:
            self.engine.dispose()


def build_runtime(settings: Settings, *, timeouts: DatabaseTimeouts | None = None) -> Runtime:
    """Every piece, now, in the order a failure is best reported in (the secret first)."""
    runtime = Runtime(settings, timeouts=timeouts)
    for piece in ("secret_key", "engine", "session_factory", "store", "tokens", "read_cache"):
        getattr(runtime, piece)
    return runtime
