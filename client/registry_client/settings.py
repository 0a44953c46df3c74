"""Where the client keeps things: config.json and credentials.json (mode 0600) in the user's config
directory, the object store in the user's data directory. REGISTRY_CLIENT_CONFIG_DIR and
REGISTRY_CLIENT_DATA_DIR move them (CI, containers, several identities on one machine)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import platformdirs

from .errors import UsageError

APP_NAME = "registry-client"
PROGRESS_CHOICES = ("auto", "always", "never")
DEFAULTS: dict[str, Any] = {
    "default_remote_registry": None,
    "transfer_workers": 8,      # parallel uploads/downloads
    "retries": 4,               # extra attempts on connection errors and 5xx
    "progress": "auto",         # bars only on a terminal, unless "always" or "never"
    "range_mib": 32,            # downloads above twice this come in ranges of this many MiB, in parallel
}


def normalize_registry(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"{url!r} is not a registry URL",
                         "Give the registry's address, e.g. https://data.example.org")
    return url


BOUNDS = {"transfer_workers": (1, 64), "retries": (0, 64), "range_mib": (1, 1024)}


def _check(key: str, value: Any) -> Any:
    if key not in DEFAULTS:
        raise UsageError(f"Unknown setting {key!r}", f"Settings: {', '.join(DEFAULTS)}")
    if value is None:
        return None
    if key == "default_remote_registry":
        return normalize_registry(str(value))
    if key in BOUNDS:
        low, high = BOUNDS[key]
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = low - 1
        if not low <= number <= high:
            raise UsageError(f"{key} must be a whole number between {low} and {high}")
        return number
    if value not in PROGRESS_CHOICES:
        raise UsageError(f"progress must be one of {', '.join(PROGRESS_CHOICES)}")
    return value


def _write_private(path: Path, data: dict) -> None:
    """Write JSON atomically with mode 0600: a crash never leaves half a file, and a token pair is
    replaced as a whole (refresh tokens rotate, so losing the new one would log the user out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}", "Fix or delete the file.") from None
    return data if isinstance(data, dict) else {}


@dataclasses.dataclass(frozen=True)
class Settings:
    config_dir: Path
    data_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        config_dir = environ.get("REGISTRY_CLIENT_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME)
        data_dir = environ.get("REGISTRY_CLIENT_DATA_DIR") or platformdirs.user_data_dir(APP_NAME)
        return cls(Path(config_dir), Path(data_dir))

    @classmethod
    def at(cls, home: Path) -> "Settings":
        """Everything under one folder (tests, throw-away environments)."""
        return cls(Path(home) / "config", Path(home) / "data")

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def credentials_file(self) -> Path:
        return self.config_dir / "credentials.json"

    def config(self) -> dict[str, Any]:
        stored = {k: v for k, v in _read(self.config_file).items() if k in DEFAULTS}
        return {**DEFAULTS, **stored}

    def update_config(self, **changes: Any) -> dict[str, Any]:
        stored = _read(self.config_file)
        for key, value in changes.items():
            stored[key] = _check(key, value)
        _write_private(self.config_file, stored)
        return self.config()

    def credentials(self, registry: str) -> dict | None:
        entry = _read(self.credentials_file).get(registry)
        return entry if isinstance(entry, dict) and entry.get("refresh_token") else None

    def save_credentials(self, registry: str, entry: dict | None) -> None:
        stored = _read(self.credentials_file)
        if entry is None:
            stored.pop(registry, None)
        else:
            stored[registry] = {k: entry[k] for k in ("refresh_token", "access_token", "expires_at")}
        _write_private(self.credentials_file, stored)

    @contextlib.contextmanager
    def credentials_lock(self) -> Iterator[None]:
        """Serialise token refreshes between processes: each refresh token works once."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no flock; a lost race only means logging in again
            yield
            return
        with open(self.config_dir / ".credentials.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
