"""The error kinds services raise. One handler (registry.api.errors) renders each of them as
`{"message": ..., "code": ..., "status": ...}`; the quilt client prints `message`."""

from __future__ import annotations


class RegistryError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **details):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})  # sent with the error response (e.g. Retry-After)


class BadRequest(RegistryError):
    status = 400
    code = "bad_request"


class Unauthorized(RegistryError):
    status = 401
    code = "unauthorized"


class Forbidden(RegistryError):
    status = 403
    code = "forbidden"


class NotFound(RegistryError):
    status = 404
    code = "not_found"


class Conflict(RegistryError):
    status = 409
    code = "conflict"


class TooManyRequests(RegistryError):
    """A throttled action (sign-in, tokens, sign-up, codes) went over its limit; the headers
    say when to come back (Retry-After, RateLimit-*)."""

    status = 429
    code = "too_many_requests"


class PayloadTooLarge(RegistryError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RegistryError):
    status = 415
    code = "unsupported_media_type"


class StorageUnavailable(RegistryError):
    """The blob store did not answer, or failed: nothing the client can fix; try again later."""

    status = 503
    code = "storage_unavailable"


class StorageAccessDenied(StorageUnavailable):
    """The blob store refused the registry itself (credentials, bucket policy, file permissions):
    the registry is misconfigured, not the client refused, so a 503 like any outage, under its own
    code so an operator tells it apart."""

    code = "storage_access_denied"


class FragmentMissing(NotFound):
    """A fragment (or staged copy) the registry asked the blob store for is not there."""

    code = "fragment_missing"


class ServiceBusy(RegistryError):
    """Writers kept colliding, or a dependency is momentarily unavailable: try again shortly."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 1, **details):
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **details)
