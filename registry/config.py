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


READ_CACHE_PLACES = ("auto", "off", "host")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


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
    # Buckets whose objects the registry copies into a package (`s3://` sources of our SDK), comma
    # separated; empty: none. Never list the registry's own bucket.
    s3_import_buckets: str = ""
    s3_signed_checksums: bool = True  # PUT URLs sign the fragment's SHA-256 as a query parameter: S3 refuses other bytes
    # A hung dependency costs a request a few seconds, not minutes: every S3 call and database
    # statement gives up after these, and the request answers 503 (seconds unless noted).
    s3_connect_timeout: int = 3  # to open a connection to S3
    s3_read_timeout: int = 3  # S3 may stay silent this long while answering one call
    s3_max_attempts: int = 2  # tries per S3 call, the first one included
    database_connect_timeout: int = 3  # MariaDB/MySQL: to open a connection
    database_read_timeout: int = 4  # MariaDB/MySQL: the server may stay silent this long in a statement
    database_write_timeout: int = 4  # MariaDB/MySQL: sending one statement
    # The database itself stops a statement after this long (0: never), so the work of one the
    # client gave up on ends too: below the read timeout (MySQL: SELECTs only; SQLite: reads only).
    database_statement_timeout: float = 3.5
    database_lock_timeout: int = 3  # MariaDB/MySQL innodb_lock_wait_timeout; below the read timeout
    database_pool_timeout: int = 3  # a request waits this long for a free database connection
    healthcheck_timeout: int = 2  # /healthcheck gives each dependency this long to answer
    allow_anonymous_access: bool = True
    allow_team_access: bool = True
    enable_user_endpoints: bool = True  # /api/users/* (admins only either way)
    allow_signup: bool = True  # anyone may create an account on /signup
    url_expiry_seconds: int = 86400  # lifetime of presigned blob URLs, as the original
    access_token_seconds: int = 3600
    refresh_token_days: int = 90
    login_code_seconds: int = 600
    # Sign-in, /api/token, sign-up and the code page: tries per window, per account and per
    # client address (request.remote_addr; behind a proxy, configure ProxyFix). 0: no limit.
    throttle_window_seconds: int = 900
    throttle_account_limit: int = 10
    throttle_address_limit: int = 50
    ratelimit_storage_url: str = ""  # empty: the database; redis://host:6379/0: Redis
    # Metadata answers (a tag, an instance's row, a token's user) reused by each process until the
    # next committed write (registry.read_cache). Where the write generation lives: auto (SQLite:
    # host; MySQL: the throttling Redis, if one is set, else off), off, host (a file in the data
    # directory: only when every process that writes the database runs on this host), or
    # redis://host:6379/0 (every host).
    read_cache: str = "auto"
    read_cache_seconds: int = 5  # an answer is reused at most this long (writes made outside the registry)
    metrics_token: str = dataclasses.field(default="", repr=False)  # empty: /metrics only from loopback
    max_request_bytes: int = 100 * 1024 * 1024  # decompressed push bodies, as the original
    # Every other /api body (get_objects with 100,000 hashes, as the quilt client sends them, is ~7 MB).
    max_small_request_bytes: int = 8 * 1024 * 1024
    max_page_request_bytes: int = 256 * 1024  # form posts to pages (sign-in, sign-up, account)
    # JSON values in a push body (100,000 fragments hold ~1.7 M) and in any other body, counted as
    # commas, colons and opening brackets: this, not the byte cap, bounds the memory a parsed body
    # takes (at most ~60 bytes a value).
    max_request_values: int = 3_000_000
    max_small_request_values: int = 200_000
    # One instance's compressed tree (100,000 fragments take ~5 MB). PyMySQL sends it as hex, so the
    # row takes twice this plus its keywords (up to 4 MB): keep it under half of MariaDB/MySQL's
    # max_allowed_packet (16 MiB by default) less 4 MB.
    max_contents_bytes: int = 6 * 1024 * 1024
    max_fragment_bytes: int = 5 * 1024 ** 3  # one upload to the local store (S3 caps a single PUT at 5 GiB)
    # Transfers v2 (services.uploads): fragments above the threshold go up in parts of at least
    # `upload_part_bytes` (S3 wants 5 MiB or more, but the last part), at most 10,000 of them.
    multipart_threshold_bytes: int = 64 * 1024 ** 2
    upload_part_bytes: int = 64 * 1024 ** 2
    part_urls_per_request: int = 100
    # An s3:// import above this is copied inside S3 in parts of this size (UploadPartCopy; one
    # CopyObject copies at most 5 GiB).
    s3_copy_part_bytes: int = 5 * 1024 ** 3

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
        if self.upload_part_bytes < 5 * 1024 ** 2 and self.storage == "s3":
            raise ValueError("REGISTRY_UPLOAD_PART_BYTES must be at least 5 MiB (S3's smallest part)")
        if not 0 < self.upload_part_bytes <= self.multipart_threshold_bytes <= 5 * 1024 ** 3:
            raise ValueError("REGISTRY_UPLOAD_PART_BYTES must be positive and at most "
                             "REGISTRY_MULTIPART_THRESHOLD_BYTES, itself at most 5 GiB (S3's largest single PUT)")
        if not 5 * 1024 ** 2 <= self.s3_copy_part_bytes <= 5 * 1024 ** 3:
            raise ValueError("REGISTRY_S3_COPY_PART_BYTES must be between 5 MiB and 5 GiB (S3's part sizes)")
        if self.read_cache not in READ_CACHE_PLACES and not self.read_cache.startswith(REDIS_SCHEMES):
            raise ValueError("REGISTRY_READ_CACHE must be auto, off, host or a redis:// URL, "
                             f"not {self.read_cache!r}")
        if not 0 <= self.database_statement_timeout < float("inf"):
            raise ValueError("REGISTRY_DATABASE_STATEMENT_TIMEOUT must be a number of seconds, 0 or more")
        if not 1 <= self.part_urls_per_request <= 10_000:
            raise ValueError("REGISTRY_PART_URLS_PER_REQUEST must be between 1 and 10000")

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
    if kind == "float":
        return float(raw)
    if kind == "Path":
        return Path(raw)
    return raw
