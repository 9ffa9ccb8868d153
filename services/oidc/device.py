"""Device authorization grant (RFC 8628) for terminals without a browser.

``POST {iss}/device/code`` (authlib's ``DeviceAuthorizationEndpoint``) answers ``device_code``,
``user_code`` (8 letters from an unambiguous alphabet, ``ABCD-EFGH``), ``verification_uri``
(``{iss}/device``), ``verification_uri_complete``, ``expires_in`` and ``interval``. If the request
carries a PKCE challenge (cosign sends one) it must be S256 and is stored; stock authlib ignores it,
``DeviceGrant`` checks the ``code_verifier`` on every poll, before anything else.

The person opens ``{iss}/device``, types the code, signs in (same throttling, CSRF and
audit as the login page; failed code guesses count against the address) and approves or denies.
Polls answer ``authorization_pending``, ``slow_down`` (a poll sooner than ``interval`` raises the
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
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import (
    AuthorizationPendingError,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    ExpiredTokenError,
    SlowDownError,
)
from flask import Flask, Response, request

from sigstack.protocol.errors import RateLimitedError, VerificationError

from . import pages, signin
from .connectors.base import LOCAL
from .connectors.registry import Registry
from .grants import OIDCServer, check_challenge, check_pkce
from .issuer import Issuer
from .login import (
    LoginRefused,
    address_limit,
    authenticate,
    client_ip,
    csrf_token,
    html,
    logged_name,
    refused_page,
    set_csrf_cookie,
    verify_csrf,
)
from .store import Identity

_USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes
_USER_CODE = re.compile(rf"^[{_USER_CODE_LETTERS}]{{4}}-[{_USER_CODE_LETTERS}]{{4}}$")


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
        return "-".join(generate_token(4, _USER_CODE_LETTERS) for _ in range(2))

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


def register(app: Flask, server: OIDCServer, issuer: Issuer, connectors: Registry) -> None:
    prefix = issuer.path_prefix
    several = len(connectors.methods()) > 1

    @app.post(f"{prefix}/device/code")
    def device_authorization() -> Response:
        try:
            return server.device_response()
        except OAuth2Error as error:
            return server.error_response(error)

    def _page(
        csrf: str,
        *,
        user_code: str = "",
        username: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        chosen = request.args.get("connector_id", "")
        method = connectors.method(chosen) if chosen else None
        body = pages.device(
            action=f"{prefix}/device"
            + (f"?{urlencode({'connector_id': chosen})}" if chosen else ""),
            csrf=csrf,
            user_code=user_code,
            issuer=issuer.url,
            username=username,
            error=error,
            method=method.name if method is not None and several else None,
            other_ways=f"{prefix}/device" if several else None,
        )
        return set_csrf_cookie(html(body, status), issuer, csrf)

    def _choose(user_code: str, error: str | None = None, status: int = 200) -> Response:
        methods = [(m.id, m.name) for m in connectors.methods()]
        body = pages.device_choose(action=f"{prefix}/device", user_code=user_code,
                                   issuer=issuer.url, methods=methods, error=error)  # fmt: skip
        return html(body, status)

    def _pending(user_code: str) -> bool:
        row = issuer.store.device_by_user_code(user_code) if _USER_CODE.match(user_code) else None
        return bool(row and row["status"] == "pending" and row["expires_at"] > issuer.store.now())

    @app.get(f"{prefix}/device")
    def device_form() -> Response:
        user_code = request.args.get("user_code", "")[:16]
        if request.args.get("login"):  # back from an upstream provider (signin.py)
            return _upstream_page(normalise_user_code(user_code), request.args["login"])
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if isinstance(method, Response):
            return method
        if method is None:
            return _choose(user_code)
        redirect = connectors.redirect(method.id)
        if redirect is None:
            return _page(csrf_token(issuer), user_code=user_code)
        code = normalise_user_code(user_code)
        if not _pending(code):  # counted like a wrong code after a password (below)
            wait, _ = issuer.store.take_attempt([address_limit(issuer, client_ip())])
            issuer.store.audit("device", "unknown_code", ip=client_ip())
            if wait:
                limited = RateLimitedError("Too many wrong codes. Try again later.", wait)
                return refused_page(_choose(code, limited.message), limited)
            return _choose(code, "That code is unknown, already used or expired. Check the "
                           "code your device shows.", 400)  # fmt: skip
        return signin.start(issuer, redirect, "device", code)

    def _upstream_page(user_code: str, finish: str) -> Response:
        identity = signin.finished_device(issuer, finish, user_code, take=False)
        if identity is None or identity.connector is None:
            return signin.refused(f"This sign-in has expired or was used already. {signin.AGAIN}")
        method = connectors.method(identity.connector)
        csrf = csrf_token(issuer)
        body = pages.device_upstream(
            action=f"{prefix}/device", csrf=csrf, user_code=user_code, login=finish,
            email=identity.email, method=method.name if method else identity.connector,
            issuer=issuer.url,
        )  # fmt: skip
        return set_csrf_cookie(html(body), issuer, csrf)

    def _upstream_decision() -> Response | None:
        user_code = normalise_user_code(request.form.get("user_code", ""))
        decision = request.form.get("decision", "")
        try:
            verify_csrf(issuer)
        except VerificationError:
            issuer.store.audit("device", "csrf", ip=client_ip())
            return signin.refused("The form expired or did not come from this page.")
        if decision not in ("approve", "deny"):
            return signin.refused("Choose Approve or Deny.")
        identity = signin.finished_device(issuer, request.form.get("login", ""), user_code,
                                          take=True)  # fmt: skip
        if identity is None:
            return signin.refused(f"This sign-in has expired or was used already. {signin.AGAIN}")
        return _decide(identity, user_code, decision == "approve")

    def _decide(identity: Identity, user_code: str, approved: bool) -> Response | None:
        row = issuer.store.device_by_user_code(user_code) if _USER_CODE.match(user_code) else None
        if row is None or not issuer.store.decide_device(
            user_code, identity.sub if approved else None, approved
        ):
            return None
        issuer.store.audit(
            "device",
            "approved" if approved else "denied",
            username=identity.name,
            client_id=row["client_id"],
            ip=client_ip(),
        )
        return html(pages.device_done(approved))

    @app.post(f"{prefix}/device")
    def device_submit() -> Response:
        if request.form.get("login"):
            decided = _upstream_decision()
            if decided is not None:
                return decided
            return signin.refused("That code is unknown, already used or expired.")
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if method is None or isinstance(method, Response) or method.kind != "password":
            return signin.refused("Choose a way to sign in first.")
        user_code = normalise_user_code(request.form.get("user_code", ""))
        username = request.form.get("username", "")
        decision = request.form.get("decision", "")
        csrf = csrf_token(issuer)
        try:
            verify_csrf(issuer)
        except VerificationError:
            shown = logged_name(issuer, username.strip()[:128])
            issuer.store.audit("device", "csrf", username=shown, ip=client_ip())
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="The form expired or did not come from this page. Please try again.",
            )
        if decision not in ("approve", "deny"):
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="Choose Approve or Deny.",
            )
        try:
            identity = authenticate(
                issuer,
                username,
                request.form.get("password", ""),
                event="device_login",
                connector=None if method.id == LOCAL else connectors.password(method.id),
            )
        except LoginRefused as refused:
            page = _page(csrf, user_code=user_code, username=username, error=refused.message)
            return refused_page(page, refused)
        decided = _decide(identity, user_code, decision == "approve")
        if decided is None:
            # a wrong code counts against the address like a wrong password
            issuer.store.take_attempt([address_limit(issuer, client_ip())])
            issuer.store.audit("device", "unknown_code", username=identity.name, ip=client_ip())
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="That code is unknown, already used or expired. Check the code "
                "your device shows.",
            )
        return decided
