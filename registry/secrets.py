"""The server secret: signs sessions, access tokens and local blob URLs."""

from __future__ import annotations

import os
import secrets

from .config import Settings


class ConfigurationError(RuntimeError):
    pass


def resolve_secret_key(settings: Settings) -> str:
    """REGISTRY_SECRET_KEY, or for the embedded default one generated on first start and kept in
    the data directory (so restarts keep everyone signed in). Production must set it: every
    host behind a load balancer needs the same key."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.is_embedded_database:
        raise ConfigurationError("REGISTRY_SECRET_KEY must be set when the database is not the embedded SQLite file "
                                 "(every registry host needs the same secret).")
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
