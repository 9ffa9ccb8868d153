"""The HTTP API of sigstore/timestamp-authority v1 on Flask (its ``openapi.yaml``).

- ``POST /api/v1/timestamp``: the body's media type picks the parser (parameters such as
  ``charset`` are ignored): ``application/timestamp-query`` → DER ``TimeStampReq``,
  ``application/json`` → the JSON form; any other ``application/*`` type → 400; any other type,
  or none → 415. Success is 200 with ``Content-Type: application/timestamp-reply`` and the DER
  ``TimeStampResp``, never cached. Refusals are ``protocol.errors`` mapped to HTTP by the runtime
  (400 ``{"code": 400, "message": ...}``); nothing is signed for them.
- ``GET /api/v1/timestamp/certchain``: the PEM chain, leaf first, as
  ``application/pem-certificate-chain``.
- ``GET /ping``: upstream's heartbeat.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import UnsupportedMediaType

from sigstack.protocol.errors import ValidationError

from .authority import TimestampAuthority
from .request import parse_der, parse_json

REPLY_TYPE = "application/timestamp-reply"
CHAIN_TYPE = "application/pem-certificate-chain"
NO_STORE = "no-store"


def _parse(media_type: str, body: bytes) -> Any:
    if not media_type.startswith("application/"):
        raise UnsupportedMediaType()
    if media_type == "application/timestamp-query":
        return parse_der(body)
    if media_type == "application/json":
        return parse_json(body)
    raise ValidationError(
        "unsupported content type: send application/timestamp-query or application/json"
    )


def blueprint(tsa: TimestampAuthority) -> Blueprint:
    bp = Blueprint("tsa", __name__)
    chain_headers = {"Cache-Control": "max-age=86400, immutable"}

    @bp.post("/api/v1/timestamp")
    def timestamp() -> Response:
        req = _parse(request.mimetype, request.get_data(cache=False))
        return Response(
            tsa.timestamp(req), 200, content_type=REPLY_TYPE, headers={"Cache-Control": NO_STORE}
        )

    @bp.get("/api/v1/timestamp/certchain")
    def certchain() -> Response:
        return Response(tsa.chain_pem, 200, content_type=CHAIN_TYPE, headers=chain_headers)

    @bp.get("/ping")
    def ping() -> Response:
        return Response(".", 200, content_type="text/plain")

    return bp


def register(tsa: TimestampAuthority) -> Any:
    def _register(app: Flask) -> None:
        app.register_blueprint(blueprint(tsa))
        app.extensions["tsa"] = tsa

    return _register
