"""The error kinds services raise. One handler (registry.api.errors) renders each of them as
`{"message": ..., "code": ..., "status": ...}`; the quilt client prints `message`."""

from __future__ import annotations


class RegistryError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


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


class PayloadTooLarge(RegistryError):
    status = 413
    code = "payload_too_large"


class StorageUnavailable(RegistryError):
    status = 503
    code = "storage_unavailable"
