"""Device authorization grant (RFC 8628) for terminals without a browser.

``POST {iss}/device/code`` (authlib's ``DeviceAuthorizationEndpoint``) answers ``device_code``,
``user_code`` (8 letters from an unambiguous alphabet, ``ABCD-EFGH``), ``verification_uri``
(``{iss}/device``), ``verification_uri_complete``, ``expires_in`` and ``interval``. If the request
carries a PKCE challenge (cosign sends one) it must be S256 and is stored; stock authlib ignores it,
``DeviceGrant`` checks the ``code_verifier`` on every poll, before anything else.

The person opens ``{iss}/device``, types the code, signs in and approves or denies (the pages and
routes are in ``devicepages.py``). Polls answer ``authorization_pending``, ``slow_down`` (a poll sooner than ``interval`` raises the
interval by 5 s, RFC 8628 §3.5), ``expired_token``, ``access_denied``, ``invalid_grant`` (unknown
or used code), or the token response once; the request is deleted when the tokens are minted.

Concurrency: the endpoint object is shared by all threads of a worker, so it keeps no request
state; the "on time" test of a poll and the single use of a code are each one conditional
statement in the database, so they hold across threads, workers and hosts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import (
    AuthorizationPendingError,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    ExpiredTokenError,
    SlowDownError,
)

from .grants import OIDCServer
from .pkce import check_challenge, check_pkce
from .store import Identity

USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes
USER_CODE = re.compile(rf"^[{USER_CODE_LETTERS}]{{4}}-[{USER_CODE_LETTERS}]{{4}}$")


def normalise_user_code(text: str) -> str:
    letters = "".join(ch for ch in text.upper() if ch.isalpha())[:8]
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else text.strip().upper()[:16]


class DeviceEndpoint(DeviceAuthorizationEndpoint):
    """``POST /device/code``. One instance serves every request of a worker's threads, so it
    holds configuration only: the request's PKCE challenge travels with the request into the
    stored row (authlib's ``save_device_credential`` hook gets no request, hence the override)."""

    CLIENT_AUTH_METHODS = ["none"]
    server: OIDCServer

    def __init__(self, server: OIDCServer) -> None:
        super().__init__(server)
        self.EXPIRES_IN = server.issuer.settings.device_lifetime
        self.INTERVAL = server.issuer.settings.device_interval

    def create_endpoint_response(
        self, request: FlaskOAuth2Request
    ) -> tuple[int, dict[str, Any], Any]:
        payload = request.payload.data
        check_challenge(payload, required=False)
        client = self.server.authenticate_client(
            request, self.CLIENT_AUTH_METHODS, self.ENDPOINT_NAME
        )
        request.client = client
        self.server.validate_requested_scope(request.payload.scope)
        device_code, user_code = self.generate_device_code(), self.generate_user_code()
        issuer = self.server.issuer
        issuer.store.save_device(
            device_code,
            user_code=user_code,
            client_id=client.get_client_id(),
            scope=" ".join(s for s in (request.payload.scope or "openid email").split() if s),
            code_challenge=payload.get("code_challenge") or None,
            code_challenge_method=payload.get("code_challenge_method") or None,
            interval=self.INTERVAL,
            expires_at=issuer.store.now() + self.EXPIRES_IN,
        )
        uri = self.get_verification_uri()
        body = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": add_params_to_uri(uri, [("user_code", user_code)]),
            "expires_in": self.EXPIRES_IN,
            "interval": self.INTERVAL,
        }
        return 200, body, default_json_headers

    def generate_device_code(self) -> str:
        return generate_token(42)  # as authlib's

    def generate_user_code(self) -> str:
        """``BCDF-GHJK``: two groups of four letters, as authlib's string user codes."""
        return "-".join(generate_token(4, USER_CODE_LETTERS) for _ in range(2))

    def get_verification_uri(self) -> str:
        return self.server.issuer.endpoint("/device")

    def save_device_credential(
        self, client_id: str, scope: str | None, data: dict[str, Any]
    ) -> None:
        # authlib's hook, never reached: create_endpoint_response above stores the request itself
        raise RuntimeError("save_device_credential is not used by this endpoint")


class DeviceRecord:
    def __init__(self, row: Mapping[str, Any], now: int, device_code: str) -> None:
        self.row = row
        self.now = now
        self.device_code = device_code

    def get_client_id(self) -> str:
        return str(self.row["client_id"])

    def get_scope(self) -> str:
        return str(self.row["scope"])

    def get_user_code(self) -> str:
        return str(self.row["user_code"])

    def is_expired(self) -> bool:
        return bool(self.row["expires_at"] <= self.now)


class DeviceGrant(DeviceCodeGrant):
    """Polls of the token endpoint. authlib makes a new grant object per request; even so, all
    request state is read from ``self.request`` and the credential, never kept on the grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    server: OIDCServer
    request: FlaskOAuth2Request

    def validate_token_request(self) -> None:
        # authlib's version, with the row read once and an unknown, used or expired code answered
        # as the invalid grant it is (RFC 6749 §5.2), not as a malformed request
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("missing device_code")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("this client may not use the device flow")
        credential = self.query_device_credential(device_code)
        if credential is None or credential.get_client_id() != client.get_client_id():
            raise InvalidGrantError("the device code is unknown, used or expired")
        self.request.user = self.validate_device_credential(credential)
        self.request.client = client
        self.request.credential = credential

    def query_device_credential(self, device_code: str) -> DeviceRecord | None:
        store = self.server.issuer.store
        row = store.device_by_code(device_code)
        return DeviceRecord(row, store.now(), device_code) if row else None

    def validate_device_credential(self, credential: DeviceRecord) -> Identity:
        row = credential.row
        check_pkce(
            row["code_challenge"],
            row["code_challenge_method"],
            self.request.form.get("code_verifier"),
            required=False,
        )
        if credential.is_expired():
            raise ExpiredTokenError()
        if row["status"] == "denied":
            raise AccessDeniedError()
        if row["status"] == "approved":
            identity = self.server.issuer.store.identity(row["sub"])
            if identity is None:
                raise AccessDeniedError()
            return identity
        if self.should_slow_down(credential):
            raise SlowDownError()
        raise AuthorizationPendingError()

    def query_user_grant(self, user_code: str) -> tuple[Identity | None, bool] | None:
        # authlib's hook, never reached: validate_device_credential reads the decision from the row
        raise RuntimeError("query_user_grant is not used by this grant")

    def should_slow_down(self, credential: DeviceRecord) -> bool:
        store = self.server.issuer.store
        return not store.record_poll(credential.device_code, credential.now)

    # types-authlib types the body as str; authlib's own grants return the token dict
    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:  # type: ignore[override]
        credential, user = self.request.credential, self.request.user
        if not isinstance(credential, DeviceRecord) or not isinstance(user, Identity):
            raise InvalidGrantError("the device code is unknown, used or expired")
        issuer = self.server.issuer
        if not issuer.store.take_device(credential.device_code):
            raise InvalidGrantError("the device code was used already")
        token = issuer.issue(
            user, audience=credential.get_client_id(), scope=credential.get_scope()
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
