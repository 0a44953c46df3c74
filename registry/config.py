"""Settings, read from REGISTRY_* environment variables. Nothing here is required for the
embedded default (SQLite + a local blob folder in the data directory)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "data-registry"


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the registry can be configured with. Field `foo_bar` is read from
    `REGISTRY_FOO_BAR`; the README's configuration table lists the same fields."""

    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    database_url: str = ""  # empty: sqlite:///<data_dir>/registry.db
    secret_key: str = dataclasses.field(default="", repr=False)  # empty: generated once and kept in <data_dir>/secret_key (SQLite only)
    public_url: str = ""  # empty: derived from each request's Host header
    storage: str = "local"  # "local" or "s3"
    s3_bucket: str = "registry"
    s3_endpoint_url: str = ""  # empty: AWS
    s3_public_endpoint_url: str = ""  # host clients use to reach S3, if different
    s3_region: str = "us-east-1"
    # Empty: boto3's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles).
    s3_access_key_id: str = ""
    s3_secret_access_key: str = dataclasses.field(default="", repr=False)
    s3_create_bucket: bool = False
    allow_anonymous_access: bool = True
    allow_team_access: bool = True
    enable_user_endpoints: bool = True  # /api/users/* (admins only either way)
    allow_signup: bool = True  # anyone may create an account on /signup
    url_expiry_seconds: int = 86400  # lifetime of presigned blob URLs, as the original
    access_token_seconds: int = 3600
    refresh_token_days: int = 90
    login_code_seconds: int = 600
    max_request_bytes: int = 100 * 1024 * 1024  # decompressed push bodies, as the original

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get("REGISTRY_" + field.name.upper())
            if raw is None:
                continue
            try:
                values[field.name] = _parse(field, raw)
            except ValueError as exc:
                raise ValueError(f"REGISTRY_{field.name.upper()}: {exc}") from None
        values.update(overrides)
        return cls(**values)

    def __post_init__(self):
        if self.storage not in ("local", "s3"):
            raise ValueError(f"REGISTRY_STORAGE must be 'local' or 's3', not {self.storage!r}")
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.db'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def _parse(field: dataclasses.Field, raw: str):
    kind = field.type
    if kind == "bool":
        return _flag(raw)
    if kind == "int":
        return int(raw)
    if kind == "Path":
        return Path(raw)
    return raw
