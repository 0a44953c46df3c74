"""What /healthcheck reports: whether the database and the blob store answer, each within a bound.

Both are asked at once, each with its own short timeouts, so a dependency that hangs makes the
check answer "down" within seconds instead of holding the request.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswer

from botocore.exceptions import ClientError
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..config import Settings
from ..db import DatabaseTimeouts, make_engine
from ..errors import RegistryError
from ..storage import BlobStore

log = logging.getLogger(__name__)
OK = "ok"
# The checks bound themselves (connection and read timeouts); this only covers a check that
# does not, so the answer still comes in time.
GRACE_SECONDS = 1.0
PROBE_ENGINE_KEY = "registry_health_engine"


def probe_engine(settings: Settings, engine: Engine, cache: dict) -> Engine:
    """What the check connects with: a connection per check with the check's own short timeouts,
    so a hung server or a pool busy with hung requests cannot hold it (an embedded SQLite file
    needs none of that: `engine`, the app's own). Made once, kept in `cache` (the app's extensions)."""
    if settings.is_embedded_database:
        return engine
    probe = cache.get(PROBE_ENGINE_KEY)
    if probe is None:
        timeout = settings.healthcheck_timeout
        probe = cache[PROBE_ENGINE_KEY] = make_engine(
            settings.effective_database_url, DatabaseTimeouts(connect=timeout, read=timeout, write=timeout),
            pooled=False)
    return probe


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _reason(exc: BaseException) -> str:
    """What failed, by kind and code only: the page is public, so no host names, paths or
    bucket names (the log has the full message)."""
    cause = exc.__cause__ if isinstance(exc, RegistryError) and exc.__cause__ is not None else exc
    if isinstance(cause, DBAPIError):
        cause = cause.orig
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code")
    else:  # an OS errno or a MySQL error number; never a message
        code = getattr(cause, "errno", None) or next(iter(getattr(cause, "args", ()) or ()), None)
        code = code if isinstance(code, int) else None
    return type(cause).__name__ + (f" ({code})" if code else "")


def check(engine: Engine, store: BlobStore, timeout: float) -> dict[str, str]:
    """`{"status": "ok"|"unavailable", "database": "ok"|"down: ...", "storage": ...}`."""
    checks = {"database": lambda: _ping_database(engine), "storage": store.check}
    deadline = time.monotonic() + timeout + GRACE_SECONDS
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="healthcheck")
    report = {}
    try:
        futures = {name: pool.submit(run) for name, run in checks.items()}
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
                report[name] = OK
            except NoAnswer:
                report[name] = f"down: no answer within {timeout} s"
            except Exception as exc:  # noqa: BLE001 - any failure means this dependency is down
                log.warning("healthcheck: %s is down: %s", name, exc)
                report[name] = f"down: {_reason(exc)}"
    finally:
        pool.shutdown(wait=False)
    return {"status": OK if all(value == OK for value in report.values()) else "unavailable", **report}
