"""The one place where sigstack errors become HTTP responses.

Each ``protocol.errors`` class has a status (``STATUS``); the body is built by a per-service
formatter (Rekor and the CT log answer ``{"code": <status>, "message": ...}``; Fulcio and the Rekor
v2 log answer as grpc-gateway does, ``grpc_body``; the OIDC issuer as OAuth 2.0 does). Headers come
from the error too: ``Location`` and ``x-log-index`` of a ``ConflictError`` (the existing entry),
``Retry-After`` of a ``RateLimitedError``, ``Allow`` of a ``FrozenError`` (a frozen log's 405).
Foreign exceptions never reach a client: they are logged
with the request id and answered with a generic 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sigstack.protocol import errors

log = logging.getLogger("sigstack.http")

# Most specific first (SchemaError is a ValidationError). Every class of the tree is listed
# (tests/unit/runtime/test_errors.py checks it); the base ``Error`` itself is never raised.
STATUS: list[tuple[type[errors.Error], int]] = [
    (errors.SchemaError, 422),
    (errors.ValidationError, 400),
    (errors.VerificationError, 400),
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.NotFoundError, 404),
    (errors.FrozenError, 405),
    (errors.ConflictError, 409),
    (errors.RateLimitedError, 429),
    (errors.InternalError, 500),
    (errors.ConfigError, 500),
    (errors.UnavailableError, 503),
]

Formatter = Callable[[int, str], Any]


def status_of(exc: errors.Error) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def headers_of(exc: errors.Error) -> dict[str, str]:
    """The response headers an error carries (see the module docstring)."""
    out = {}
    if isinstance(exc, errors.ConflictError):
        if exc.location:
            out["Location"] = exc.location
        if exc.log_index is not None:
            out["x-log-index"] = str(exc.log_index)
    if isinstance(exc, errors.RateLimitedError) and exc.retry_after:
        out["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.FrozenError):  # RFC 9110 section 15.5.6: a 405 carries Allow
        out["Allow"] = ", ".join(exc.allow)
    return out


def default_body(status: int, message: str) -> Any:
    return {"code": status, "message": message}


# HTTP status -> google.rpc.Code: grpc-gateway's HTTPStatusFromCode inverted for the statuses the
# services answer with (422 is a malformed request, 499 a client that went away, 408 and 504 a
# deadline).
GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 4, 409: 6, 413: 8, 422: 3, 429: 8,
             499: 1, 500: 13, 501: 12, 503: 14, 504: 4}  # fmt: skip


def grpc_body(status: int, message: str) -> dict[str, Any]:
    """The google.rpc.Status JSON grpc-gateway answers errors with: ``{"code", "message",
    "details": []}`` (an unknown status is code 2, UNKNOWN)."""
    return {"code": GRPC_CODE.get(status, 2), "message": message, "details": []}


def register_error_handlers(app: Flask, body: Formatter = default_body) -> None:
    """Install handlers turning every exception into a safe JSON answer built by ``body``."""

    def respond(status: int, message: str) -> Response:
        resp = jsonify(body(status, message))
        resp.status_code = status
        return resp

    @app.errorhandler(errors.Error)
    def _ours(exc: errors.Error) -> Response:
        resp = respond(status_of(exc), exc.message)
        resp.headers.update(headers_of(exc))
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        messages = {
            404: "not found",
            405: "method not allowed",
            408: "the request did not arrive in time",
            413: "request body is larger than the configured limit",
        }
        resp = respond(status, messages.get(status, exc.name.lower()))
        for name, value in exc.get_headers():  # Allow on a 405 (RFC 9110 section 15.5.6)
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _foreign(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return respond(500, "internal error")
