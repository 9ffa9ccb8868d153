"""Fulcio's client-facing error messages (fulcio.md section 1.8).

Clients see only these constant strings; the detail (why a token was refused, what the CT log said)
goes to the service log, with the request's id. The errors leave through the runtime's one
mapping, with its grpc-gateway body (``services.runtime.errors.grpc_body``).
"""

from __future__ import annotations

import logging
from typing import Any

from sigstack.protocol.errors import InternalError, ValidationError
from sigstack.services.runtime.observe import current_request_id

log = logging.getLogger("sigstack.fulcio")

MSG_TOKEN = "There was an error processing the identity token"  # noqa: S105
MSG_KEY_PARSE = "The public key supplied in the request could not be parsed"
MSG_KEY_INSECURE = "The public key supplied in the request is insecure"
MSG_CSR_PARSE = "The certificate signing request could not be parsed"
MSG_SIGNATURE = "The signature supplied in the request could not be verified"
MSG_CA = "error communicating with CA backend"
MSG_CT = "Error entering certificate in CTL"
MSG_SCT = "Error marshaling signed certificate timestamp"


def _request_fields() -> dict[str, Any]:
    """The id of the request being answered (``runtime.observe.current_request_id``; a client may
    choose it with ``X-Request-Id``), so that the reason logged here can be found from what the
    client printed."""
    request_id = current_request_id()
    return {"fields": {"request_id": request_id}} if request_id else {}


def client_error(message: str, detail: str) -> ValidationError:
    """A 400 (code 3) error with a safe ``message``; ``detail`` is logged at WARNING."""
    log.warning("request refused: %s (%s)", message, detail, extra=_request_fields())
    return ValidationError(message)


def server_error(message: str, detail: str) -> InternalError:
    """A 500 (code 13) error with a safe ``message``; ``detail`` is logged at ERROR."""
    log.error("%s: %s", message, detail, extra=_request_fields())
    return InternalError(message)
