"""S3's errors as the registry's: what the S3 store (registry.storage.s3) raises instead of
botocore's, for its own bucket (storage errors) and for an import's source bucket (the user's)."""

from __future__ import annotations

import contextlib

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import Conflict, Forbidden, NotFound, RegistryError, StorageAccessDenied, StorageUnavailable
from .base import fragment_missing


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# A HEAD's error has no body: only its status ("404", "403") is left for a code.
MISSING_CODES = ("NoSuchKey", "404", "NotFound")
# The store refuses the registry's own credentials or policy (a source bucket's refusal is the user's).
DENIED_CODES = ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                "ExpiredToken", "InvalidToken")


def storage_error(exc: BotoCoreError | ClientError, what: str, key: str | None = None) -> RegistryError:
    """The storage error for a failure of S3: a missing object where a `key` was asked for (elsewhere
    a 404 is a missing bucket: unavailable), the registry refused, or no (good) answer: a 503."""
    code = error_code(exc) if isinstance(exc, ClientError) else ""
    if key is not None and code in MISSING_CODES:
        return fragment_missing(key)
    if code in DENIED_CODES:
        return StorageAccessDenied(f"Blob storage refused the registry ({what}): {exc}")
    return StorageUnavailable(f"Blob storage did not answer ({what}): {exc}")


@contextlib.contextmanager
def storage_errors(what: str, key: str | None = None):
    """No botocore error gets past the store: each becomes a storage error (`storage_error`)."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(exc, what, key) from exc


def source_error(exc: BotoCoreError | ClientError, where: str, bucket: str) -> RegistryError:
    """An import's source refused or gone is the user's to fix (403/404); changed since its HEAD,
    a conflict to retry; anything else, our storage's error."""
    code = error_code(exc) if isinstance(exc, ClientError) else ""
    if code in ("403", "AccessDenied", "AllAccessDisabled"):
        return Forbidden(f"The registry may not read {where}: grant it read access to bucket {bucket}")
    if code in ("404", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "400", "InvalidArgument"):
        return NotFound(f"No object at {where}")
    if code in ("PreconditionFailed", "412"):
        return Conflict(f"{where} changed while it was imported; import it again")
    return storage_error(exc, f"read {where}")
