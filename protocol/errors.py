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
    """A signature, proof or policy check failed."""


class NotFoundError(Error):
    """The thing asked for does not exist (HTTP 404)."""


class ConflictError(Error):
    """An equivalent thing exists already (HTTP 409). ``location`` names it when known."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


class TooLargeError(Error):
    """A request body or value is over the configured limit (HTTP 413)."""


class UnavailableError(Error):
    """The service cannot answer right now (HTTP 503): overloaded, shutting down, storage down."""


class ConfigError(Error):
    """Configuration or on-disk state is unsafe or inconsistent; the service refuses to start."""
