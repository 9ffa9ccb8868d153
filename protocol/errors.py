"""The one error tree of sigstack.

Every error a user or a client can cause is an ``Error`` with a ``message`` that is safe to show
(no stack traces, no foreign exception text). Services map these classes to HTTP statuses in
exactly one place (``services.runtime.errors``); the CLI catches ``Error`` once.
"""

from __future__ import annotations


class Error(Exception):
    """Base of every sigstack error. ``message`` is safe to show to a user or a remote client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(Error):
    """Input is malformed: bad JSON, a wrong type, a missing field, bad base64 (HTTP 400)."""


class SchemaError(ValidationError):
    """Input is well-formed JSON but violates the API schema (HTTP 422 in Rekor's API)."""


class VerificationError(Error):
    """A signature, proof or policy check failed (HTTP 400)."""


class NotFoundError(Error):
    """The thing asked for does not exist (HTTP 404)."""


class ConflictError(Error):
    """An equivalent thing exists already (HTTP 409). ``location`` (a URL path) and ``log_index``
    (an index in a transparency log) name it when known."""

    def __init__(
        self, message: str, location: str | None = None, *, log_index: int | None = None
    ) -> None:
        super().__init__(message)
        self.location = location
        self.log_index = log_index


class FrozenError(Error):
    """The log is frozen: read-only for good, it takes no new entry (HTTP 405, rekor-tiles' answer
    for a frozen log). ``successor`` is the URL of the log that replaces it, when known;
    ``allow`` the methods the path still answers (the 405's ``Allow`` header)."""

    def __init__(
        self, message: str, successor: str | None = None, *, allow: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.successor = successor
        self.allow = allow


class AuthenticationError(Error):
    """A credential (a password, a client secret) was refused (HTTP 401)."""


class PermissionDeniedError(Error):
    """The caller is known and its credential is good, but a policy does not allow what it asks
    for (HTTP 403; gRPC PERMISSION_DENIED): Fulcio's issuance policy, for example."""


class RateLimitedError(Error):
    """Too many attempts; ``retry_after`` seconds to wait, when known (HTTP 429)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(Error):
    """The service cannot answer right now (HTTP 503): overloaded, shutting down, storage down."""


class ConfigError(Error):
    """Configuration or on-disk state is unsafe or inconsistent; the service refuses to start
    (HTTP 500 should one surface while serving)."""


class InternalError(Error):
    """The service failed at something the client could not cause (a backend it depends on, an
    encoding step): HTTP 500 with this safe message; the detail goes to the service log."""
