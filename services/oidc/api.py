"""HTTP routes of the issuer: discovery, JWKS, token, userinfo (plus login.py and devicepages.py).

Endpoint paths follow Dex so that tools with Dex-shaped defaults find them: ``{iss}/auth``,
``{iss}/token``, ``{iss}/keys``, ``{iss}/userinfo``, ``{iss}/device/code``, ``{iss}/device``. The
routes live under the issuer URL's path, so ``https://host/auth`` serves
``/auth/.well-known/openid-configuration``. OAuth errors are RFC 6749 §5.2 JSON.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Flask, Response, jsonify, request

from sigstack.protocol.errors import VerificationError

from . import device, devicepages, login, signin
from .clients import DEVICE_GRANT
from .connectors.registry import Registry
from .exchange import TOKEN_EXCHANGE, Exchange, TokenExchangeGrant
from .grants import CodeGrant, OIDCServer, ServiceAccountGrant
from .issuer import SCOPES, Issuer


def discovery(issuer: Issuer, exchange: bool = False) -> dict[str, Any]:
    """The OpenID Provider metadata (OIDC Discovery §3, RFC 8414 fields); RFC 8693 token exchange
    is listed when it is configured."""
    grant_types = ["authorization_code", DEVICE_GRANT, "client_credentials"]
    return {
        "issuer": issuer.url,
        "authorization_endpoint": issuer.endpoint("/auth"),
        "token_endpoint": issuer.endpoint("/token"),
        "jwks_uri": issuer.endpoint("/keys"),
        "userinfo_endpoint": issuer.endpoint("/userinfo"),
        "device_authorization_endpoint": issuer.endpoint("/device/code"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types + ([TOKEN_EXCHANGE] if exchange else []),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": issuer.keyring.algorithms(),
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "iat",
            "exp",
            "nbf",
            "nonce",
            "at_hash",
            "auth_time",
            "email",
            "email_verified",
            "groups",
            "federated_claims",
        ],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def _bearer_error(description: str, status: int = 401) -> Response:
    resp = jsonify({"error": "invalid_token", "error_description": description})
    resp.status_code = status
    resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def register(
    app: Flask, issuer: Issuer, connectors: Registry, exchange: Exchange | None = None
) -> OIDCServer:
    server = OIDCServer(issuer)
    server.register_grant(CodeGrant)
    server.register_grant(device.DeviceGrant)
    server.register_grant(ServiceAccountGrant)
    if exchange is not None:
        server.register_grant(TokenExchangeGrant, [TokenExchangeGrant.extension(exchange)])
    # authlib annotates this as an Endpoint, which its own device endpoint is not
    server.register_endpoint(device.DeviceEndpoint(server))  # type: ignore[arg-type]
    prefix = issuer.path_prefix

    @app.get(f"{prefix}/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        resp = jsonify(discovery(issuer, exchange is not None))
        resp.headers["Cache-Control"] = "public, max-age=300"
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    @app.get(f"{prefix}/keys")
    def jwks() -> Response:
        resp = jsonify(issuer.keyring.jwks())
        resp.headers["Cache-Control"] = "public, max-age=300, must-revalidate"
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    @app.post(f"{prefix}/token")
    def token() -> Response:
        try:
            return server.token_response()
        except OAuth2Error as error:
            return server.error_response(error)

    @app.route(f"{prefix}/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        kind, _, value = request.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            return _bearer_error("send the access token as 'Authorization: Bearer TOKEN'")
        try:
            identity = issuer.verify_access_token(value.strip())
        except VerificationError as exc:
            return _bearer_error(exc.message)
        resp = jsonify({"sub": identity.sub, "email": identity.email, "email_verified": True})
        resp.headers["Cache-Control"] = "no-store"
        return resp

    login.register(app, server, issuer, connectors)
    devicepages.register(app, server, issuer, connectors)
    signin.register(app, issuer, connectors)
    return server


def oauth_error_body(status: int, message: str) -> dict[str, str]:
    """Errors raised outside authlib, in RFC 6749 §5.2 shape."""
    code = {
        400: "invalid_request",
        404: "not_found",
        405: "invalid_request",
        413: "invalid_request",
        422: "invalid_request",
        503: "temporarily_unavailable",
    }
    return {"error": code.get(status, "server_error"), "error_description": message}
