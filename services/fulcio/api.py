"""Fulcio's REST API (fulcio.md section 1) on Flask: v2 signingCert/trustBundle/configuration, the
legacy v1 signingCert (201, PEM chain) and rootCert, and ``/healthz``.

Input follows protojson: camelCase or snake_case field names, base64 in either alphabet with
optional padding, unknown fields ignored; the body must be strict UTF-8 JSON (``strictjson``). Output uses camelCase. Errors leave through the runtime's
single error mapping with ``runtime.errors.grpc_body`` (``{"code": 3, "message": ..., "details": []}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from sigstack.protocol import strictjson
from sigstack.protocol.errors import ValidationError
from sigstack.services.runtime.direct import Answer, BodyView, Header, post_route

from .errors import MSG_CSR_PARSE, MSG_KEY_PARSE, MSG_SIGNATURE, client_error
from .pop import b64decode
from .service import Fulcio, KeyRequest
from .tokens import bearer

PEM_CHAIN = "application/pem-certificate-chain"


def _field(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _object(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("invalid value for a message field")
    return value


def _body(data: bytes) -> Mapping[str, Any]:
    if not data.strip():
        return {}
    try:
        body = strictjson.loads(data, "request body")
    except ValidationError as exc:  # also NaN, lone surrogates, nesting too deep, not UTF-8
        raise ValidationError("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    return body


def _v2_key_request(body: Mapping[str, Any]) -> KeyRequest:
    csr = _field(body, "certificateSigningRequest", "certificate_signing_request")
    pkr = _object(_field(body, "publicKeyRequest", "public_key_request"))
    if csr:
        return KeyRequest(csr_pem=b64decode(csr, "certificateSigningRequest", MSG_CSR_PARSE))
    if pkr:
        key = _object(_field(pkr, "publicKey", "public_key"))
        content = key.get("content")
        if not isinstance(content, str) or not content:
            raise client_error(MSG_KEY_PARSE, "publicKey.content missing")
        proof = _field(pkr, "proofOfPossession", "proof_of_possession") or ""
        return KeyRequest(
            public_key=content.encode("utf-8"),
            proof=b64decode(proof, "proofOfPossession", MSG_SIGNATURE),
        )
    return KeyRequest()


def _v1_key_request(body: Mapping[str, Any]) -> KeyRequest:
    csr = _field(body, "certificateSigningRequest", "certificate_signing_request")
    if csr:
        return KeyRequest(csr_pem=b64decode(csr, "certificateSigningRequest", MSG_CSR_PARSE))
    key = _object(_field(body, "publicKey", "public_key"))
    content = key.get("content")
    if not content:
        return KeyRequest()
    proof = _field(body, "signedEmailAddress", "signed_email_address") or ""
    return KeyRequest(
        public_key=b64decode(content, "publicKey.content", MSG_KEY_PARSE),
        proof=b64decode(proof, "signedEmailAddress", MSG_SIGNATURE),
    )


def certificate_writer(fulcio: Fulcio) -> BodyView:
    """``POST /api/v2/signingCert`` as a body route (``runtime.direct``): the token from the body's
    credentials or the ``Authorization`` header, the chain out."""

    def signing_cert_v2(data: bytes, header: Header) -> Answer:
        body = _body(data)
        creds = _object(body.get("credentials"))
        token = _field(creds, "oidcIdentityToken", "oidc_identity_token") or bearer(
            header("Authorization")
        )
        result = fulcio.issue(token if isinstance(token, str) else "", _v2_key_request(body))
        chain = {"chain": {"certificates": result.pem_chain()}}
        if result.embedded:
            return 200, {"signedCertificateEmbeddedSct": chain}, {}
        return 200, {"signedCertificateDetachedSct": chain}, {}

    return signing_cert_v2


def blueprint(fulcio: Fulcio) -> Blueprint:
    """Every route but ``POST /api/v2/signingCert`` (``certificate_writer``, registered as a body
    route by ``register``)."""
    bp = Blueprint("fulcio", __name__)

    @bp.get("/api/v2/trustBundle")
    def trust_bundle() -> Any:
        return jsonify({"chains": [{"certificates": c} for c in fulcio.trust_bundle()]})

    @bp.get("/api/v2/configuration")
    def configuration() -> Any:
        return jsonify({"issuers": fulcio.configuration()})

    @bp.post("/api/v1/signingCert")
    def signing_cert_v1() -> Response:
        body = _body(request.get_data(cache=False))
        token = bearer(request.headers.get("Authorization"))
        result = fulcio.issue(token, _v1_key_request(body))
        resp = Response("\n".join(result.pem_chain()), status=201, mimetype=PEM_CHAIN)
        if not result.embedded and result.sct is not None:
            import base64
            import json

            raw = json.dumps(result.sct.to_json()).encode()
            resp.headers["SCT"] = base64.b64encode(raw).decode()
        return resp

    @bp.get("/api/v1/rootCert")
    def root_cert() -> Response:
        certs = [pem for chain in fulcio.trust_bundle() for pem in chain]
        return Response("\n".join(certs), status=200, mimetype=PEM_CHAIN)

    return bp


def register(fulcio: Fulcio) -> Callable[[Flask], None]:
    """The ``register`` callback for ``runtime.app.create_app``."""

    def _register(app: Flask) -> None:
        post_route(app, "/api/v2/signingCert", "fulcio_signing_cert_v2", certificate_writer(fulcio))
        app.register_blueprint(blueprint(fulcio))
        app.extensions["fulcio"] = fulcio
        # grpc-gateway's health answer; replaces the runtime's generic body on the same route.
        app.view_functions["_healthz"] = lambda: ({"status": "SERVING"}, 200)

    return _register
