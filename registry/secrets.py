"""The server secret: signs sessions, access tokens, password links and local blob URLs.

Whoever knows it can mint an access token for any user (ids are sequential), so a configured
secret must be long and must not be a value anyone can read: the registry refuses to start
with one shorter than 32 bytes, with one of the example values printed in this repository, or
with one of very few distinct characters.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from .config import Settings

MIN_SECRET_BYTES = 32
MIN_DISTINCT_CHARACTERS = 8
# Every example value the repository prints or used to print (compose file, README, tests,
# benchmarks), and the usual placeholders: all public, so none is a secret.
KNOWN_SECRETS = frozenset(value.lower() for value in (
    "change-me-to-a-long-random-string",
    "...a long random string, the same on every host...",
    "a long random string, the same on every host",
    "test-secret-key",
    "prod-secret",
    "benchmark-secret",
    "secret", "secret-key", "secret_key", "changeme", "change-me", "change_me", "replace-me",
    "your-secret-key", "your-secret-key-here", "my-secret-key", "supersecret", "development", "dev",
))
GENERATE_HINT = "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class ConfigurationError(RuntimeError):
    pass


def check_secret_key(secret: str) -> None:
    """Refuse a secret that is short, published, or made of a few characters repeated."""
    if secret.strip().lower() in KNOWN_SECRETS:
        raise ConfigurationError("REGISTRY_SECRET_KEY is an example value printed in the registry's own "
                                 f"files, so anyone can forge tokens with it. {GENERATE_HINT}")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"REGISTRY_SECRET_KEY is too short: use at least {MIN_SECRET_BYTES} bytes "
                                 f"of random text. {GENERATE_HINT}")
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        raise ConfigurationError(f"REGISTRY_SECRET_KEY is not random (fewer than {MIN_DISTINCT_CHARACTERS} "
                                 f"distinct characters). {GENERATE_HINT}")


def resolve_secret_key(settings: Settings) -> str:
    """REGISTRY_SECRET_KEY, or for the embedded default one generated on first start and kept in
    the data directory (so restarts keep everyone signed in). Production must set it: every
    host behind a load balancer needs the same key."""
    if settings.secret_key:
        check_secret_key(settings.secret_key)
        return settings.secret_key
    if not settings.is_embedded_database:
        raise ConfigurationError("REGISTRY_SECRET_KEY must be set when the database is not the embedded SQLite file "
                                 f"(every registry host needs the same secret). {GENERATE_HINT}")
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def make_private_database_file(settings: Settings) -> None:
    """The embedded database belongs to the registry's user alone: its folder (by default the data
    directory, which also holds the secret and the local blobs) is created 0700 and the SQLite
    file 0600 before SQLite opens it (SQLite would make it 0644, readable by every local user:
    password and token hashes, private packages; its -wal and -shm files take the file's mode).
    Existing files and folders are left as they are: an operator may have chosen their modes."""
    if not settings.is_embedded_database:
        return
    database = make_url(settings.effective_database_url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Only ever create: opening (and closing) a database file this process already has open
        # would drop SQLite's POSIX locks on it, and concurrent writers would corrupt it.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
