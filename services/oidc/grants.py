"""authlib wiring: the authorization server and the code and client-credentials grants.

Where stock authlib 1.9 falls short for Sigstore clients (spec/oidc.md §4) this module fixes it:

- PKCE is required for the code flow: a missing ``code_challenge``, a missing method and ``plain``
  are refused at /authorize, and /token always demands a matching S256 verifier (``pkce``);
- ``redirect_uri=urn:ietf:wg:oauth:2.0:oob`` shows the code on a page instead of redirecting;
- access tokens are JWTs with the identity claims and ``aud`` is a string (``Issuer.issue``);
- codes are single use: the row is deleted before tokens are minted, and only the request that
  deleted it gets tokens.
The clients and how they authenticate (loopback redirect URIs, Basic ``sigstore:``) are in
``clients.py``; the device grant is in ``device.py``, token exchange in ``exchange.py``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import Response

from . import pages
from .clients import Client, authenticate_basic, authenticate_public, request_client
from .issuer import OOB_REDIRECT, SCOPES, Issuer
from .pkce import check_challenge, check_pkce
from .store import Identity


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested audience is not one this issuer mints tokens for."""

    error = "invalid_target"


class OIDCServer(AuthorizationServer):
    """authlib's Flask server carrying our ``Issuer``."""

    def __init__(self, issuer: Issuer) -> None:
        super().__init__()
        self.issuer = issuer
        self._query_client = self._lookup_client
        self._save_token = lambda token, request: None  # tokens are JWTs; nothing to store
        self.scopes_supported = list(SCOPES)
        # types-authlib asks for a BearerTokenGenerator; authlib takes any callable
        self.register_token_generator("default", self._no_generator)  # type: ignore[arg-type]
        self.register_client_auth_method("none", authenticate_public)
        self.register_client_auth_method("client_secret_basic", authenticate_basic)

    def get_authorization_grant(self, request: Any) -> Any:
        """authlib's, except that an unsupported ``response_type`` is not copied into the error
        description: authlib raised ValueError (a 500) when it held characters RFC 6749 section
        4.1.2.1 forbids there."""
        response_type = request.payload.response_type or ""
        if not invalid_error_characters(response_type):
            return super().get_authorization_grant(request)
        redirect_uri = None
        client = self._lookup_client(request.payload.client_id or "")
        uri = request.payload.redirect_uri
        if client is not None and uri and client.check_redirect_uri(uri):
            redirect_uri = uri  # RFC 6749 section 4.1.2.1: a checked client and URI get a redirect
        # authlib's error describes itself as "response_type=<its first argument> is not supported"
        raise UnsupportedResponseTypeError("(unprintable)", redirect_uri=redirect_uri)

    def token_response(self) -> Response:
        """``create_token_response`` for the current Flask request."""
        # types-authlib declares the framework-neutral (status, body, headers); Flask's server
        # hands that to handle_response, which makes the Response
        return self.create_token_response()  # type: ignore[return-value]

    def device_response(self) -> Response:
        """The device authorization endpoint's answer to the current Flask request."""
        response = self.create_endpoint_response("device_authorization")  # type: ignore[no-untyped-call]  # types-authlib leaves it unannotated
        if not isinstance(response, Response):
            raise RuntimeError("the device authorization endpoint gave no response")
        return response

    def error_response(self, error: OAuth2Error) -> Response:
        """authlib's answer to an OAuth error raised outside a grant (no request to name)."""
        # types-authlib: request is not Optional, the result an object (Flask's is a Response)
        return self.handle_error_response(None, error)  # type: ignore[arg-type, return-value]

    @staticmethod
    def _no_generator(**_kwargs: Any) -> None:
        raise RuntimeError("tokens are minted by Issuer.issue")

    def _lookup_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        if hmac.compare_digest(client_id.encode(), self.issuer.settings.client_id.encode()):
            return Client(client_id, public=True)
        row = self.issuer.store.service_account(client_id)
        if row is None:
            return None
        identity = Identity(row["sub"], row["email"], "service", row["name"])
        return Client(client_id, public=False, secret_hash=row["secret_hash"], identity=identity)


class CodeRecord:
    def __init__(self, row: Mapping[str, Any], code: str) -> None:
        self.row = row
        self.code = code

    def get_redirect_uri(self) -> str:
        return str(self.row["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.row["scope"])


class CodeGrant(grants.AuthorizationCodeGrant):
    # "client_secret_basic" is listed only so that a failed Basic attempt answers 401 (RFC 6749
    # §5.2); service accounts that pass it are then refused by check_grant_type.
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic"]
    server: OIDCServer
    request: FlaskOAuth2Request

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: ClientMixin) -> str:
        # authlib echoes the URI into the error text and crashes on some characters; we answer
        # with a fixed message (and never redirect to an unvalidated URI).
        if request.payload is None:
            raise InvalidRequestError("missing redirect_uri")
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("missing redirect_uri", state=request.payload.state)
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError(
                "redirect_uri must be http://127.0.0.1, http://localhost or http://[::1] on any "
                "port, or urn:ietf:wg:oauth:2.0:oob"
            )
        return str(uri)

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        try:
            if "openid" not in scope_to_list(self.request.payload.scope or ""):
                raise InvalidScopeError("the openid scope is required")
            check_challenge(self.request.payload.data, required=True)
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        if redirect_uri != OOB_REDIRECT:
            return super().create_authorization_response(redirect_uri, grant_user)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        return 200, pages.oob_code(code), pages.html_headers()

    def generate_authorization_code(self) -> str:
        return generate_token(48)

    def save_authorization_code(self, code: str, request: Any) -> None:
        store = self.server.issuer.store
        now = store.now()
        store.save_code(
            code,
            client_id=request.client.get_client_id(),
            sub=request.user.sub,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=request.payload.data.get("nonce") or None,
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method=request.payload.data["code_challenge_method"],
            auth_time=now,
            expires_at=now + self.server.issuer.settings.code_lifetime,
        )

    def query_authorization_code(self, code: str, client: ClientMixin) -> CodeRecord | None:
        row = self.server.issuer.store.find_code(code)
        if row is None or row["client_id"] != client.get_client_id():
            return None
        return CodeRecord(row, code)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        row = self._record().row
        check_pkce(
            row["code_challenge"],
            row["code_challenge_method"],
            self.request.form.get("code_verifier"),
            required=True,
        )

    def _record(self) -> CodeRecord:
        """The code validate_token_request found (query_authorization_code's record)."""
        record = self.request.authorization_code
        if not isinstance(record, CodeRecord):
            raise InvalidGrantError("no authorization code")
        return record

    # types-authlib types the body as str; authlib's own grants return the token dict
    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:  # type: ignore[override]
        record = self._record()
        issuer = self.server.issuer
        if not issuer.store.take_code(record.code):
            raise InvalidGrantError("the code was used already")
        identity = issuer.store.identity(record.row["sub"])
        if identity is None:
            raise InvalidGrantError("the account behind this code is gone or disabled")
        token = issuer.issue(
            identity,
            audience=request_client(self.request).get_client_id(),
            scope=record.get_scope(),
            nonce=record.row["nonce"],
            auth_time=record.row["auth_time"],
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def delete_authorization_code(self, authorization_code: Any) -> None:
        self.server.issuer.store.take_code(authorization_code.code)

    def authenticate_user(self, authorization_code: Any) -> Identity | None:
        return self.server.issuer.store.identity(authorization_code.row["sub"])


class ServiceAccountGrant(grants.ClientCredentialsGrant):
    """``client_credentials`` for service accounts: an ID token for the requested audience."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: OIDCServer
    request: FlaskOAuth2Request
    audience = ""  # the checked audience (authlib makes a grant object per request)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        settings = self.server.issuer.settings
        audiences = self.request.form.getlist("audience") if self.request.form else []
        if len(audiences) > 1:
            raise InvalidRequestError("send one audience")
        audience = audiences[0] if audiences else settings.service_account_default_audience
        if audience not in settings.service_account_audiences:
            raise InvalidTargetError(
                description="this issuer does not mint tokens for that audience"
            )
        self.audience = audience

    # types-authlib types the body as str; authlib's own grants return the token dict
    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:  # type: ignore[override]
        client = request_client(self.request)
        issuer = self.server.issuer
        if client.identity is None:  # check_grant_type admits service accounts only
            raise InvalidClientError()
        token = issuer.issue(client.identity, audience=self.audience, scope="openid email")
        issuer.store.audit(
            "service_token",
            "success",
            username=client.identity.name,
            client_id=client.client_id,
            detail={"aud": self.audience},
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


__all__ = ["Client", "CodeGrant", "InvalidClientError", "OIDCServer", "ServiceAccountGrant"]
