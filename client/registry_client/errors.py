"""Errors a user can act on. Each says what happened and, in `hint`, what to do next; the command
line prints both without a traceback."""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the SDK raises on purpose."""

    def __init__(self, message: str, hint: str = "", *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class UsageError(ClientError):
    """A bad argument: a package name, a logical key, metadata, a missing option."""


class PathNotFound(UsageError):
    """A local file or folder that does not exist."""


class NotFound(ClientError):
    """The registry has no such package, hash, tag or version (or the caller may not see it)."""


class Forbidden(ClientError):
    """The registry refused the action for this account."""


class AuthenticationError(ClientError):
    """Not signed in, or the stored login expired or was revoked."""


class Conflict(ClientError):
    """The registry refused because of the current state (a version that exists, a moved tag)."""


class RegistryUnavailable(ClientError):
    """The registry or blob storage could not be reached or kept failing."""


class IntegrityError(ClientError):
    """Downloaded bytes or a manifest did not match their SHA-256."""


class TransferError(ClientError):
    """An upload or download failed for another reason."""


def network_reason(exc: Exception) -> str:
    """A short cause for a failed connection, instead of urllib3's nested retry message."""
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                           ("Name or service not known", "unknown host"), ("nodename nor servname", "unknown host"),
                           ("getaddrinfo failed", "unknown host"),
                           ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                           ("Connection reset", "connection reset"), ("Connection aborted", "connection aborted")):
        if needle in text:
            return reason
    return type(exc).__name__
