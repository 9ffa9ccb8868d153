"""RFC 8693 token exchange at ``/token``: a workload's token from a trusted outside issuer (a
Kubernetes service-account token, a GitHub Actions or GitLab CI job token, another sigstack
issuer's token) in, a token of a service account it may act as out (docs/oidc.md, "Token
exchange"; the rules are ``exchangerules.py``'s).

The request (RFC 8693 section 2.1): ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``,
``subject_token`` and ``subject_token_type`` (``...:token-type:jwt`` or ``...:token-type:id_token``;
at most ``MAX_SUBJECT_TOKEN_CHARS``), optional ``requested_subject`` (the service account, by
name or email; optional when the matching rules name exactly one), ``audience`` (of the issued
token: one of ``service_account_audiences``, default ``service_account_default_audience``),
``requested_token_type`` (``...:access_token``, the default, or ``...:id_token``) and ``scope``
(``openid``/``email`` only). ``resource`` and ``actor_token`` (delegation) are not supported.
Client authentication is optional: none, or the public client (``client_id``, or HTTP Basic with
an empty password); a confidential client is refused (service accounts use client_credentials).

The subject token is verified in full before any rule is looked at: its ``iss`` is a configured
issuer (byte for byte), its JWS signature verifies under that issuer's JWKS
(``runtime.issuerkeys``: cached, bounded fetches, no ``none``/HMAC), its ``aud`` contains one of
the entry's audiences, ``exp`` is in the future (no leeway), ``nbf`` and ``iat`` at most
``CLOCK_SKEW`` seconds ahead, ``iat`` at most ``max_token_age`` ago, and ``sub`` is a non-empty
string. Only then are the rules matched, the requested account checked against them (before
looking it up, so account names cannot be probed) and then looked up (enabled).

The answer (section 2.2.1) is ``access_token``, ``issued_token_type``, ``token_type`` (``Bearer``
for an access token, ``N_A`` for an ID token, which is not one) and ``expires_in``. The token has
the claims of the account's client_credentials token (``Issuer.issue``) plus
``act: {"iss", "sub"}`` naming the workload (section 4.1). Errors (section 2.2.2, RFC 6749 section
5.2) have fixed, safe descriptions: ``invalid_request`` (malformed request), ``invalid_grant`` (the
subject token does not verify, or the account is unknown or disabled), ``unauthorized_client`` (no
rule lets this subject act as that account), ``invalid_target`` (audience, resource),
``invalid_scope``. Every exchange, granted or refused, is in the audit log (``token_exchange``)
with its reason; tokens never are, nor in the service log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import request as flask_request

from sigstack.services.runtime.issuerfetch import IssuerError
from sigstack.services.runtime.issuerkeys import (
    Provider,
    numeric_date,
    unverified_claims,
    verify_signature,
)

from .clients import Client, authenticate_public
from .config import OIDCConfig
from .exchangerules import TrustedIssuer, parse_exchange
from .grants import InvalidTargetError, OIDCServer
from .issuer import SCOPES
from .store import Identity

log = logging.getLogger("sigstack.oidc.exchange")

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
_TYPE = "urn:ietf:params:oauth:token-type:"
JWT, ID_TOKEN, ACCESS_TOKEN = _TYPE + "jwt", _TYPE + "id_token", _TYPE + "access_token"
SUBJECT_TOKEN_TYPES = (JWT, ID_TOKEN)
MAX_SUBJECT_TOKEN_CHARS = 16384  # workload tokens are 1-3 KB; 16 KB leaves room for claims
CLOCK_SKEW = 30  # seconds an outside issuer's clock may run ahead of ours (nbf, iat)
_SINGLE = ("subject_token", "subject_token_type", "requested_subject", "audience", "resource",
           "requested_token_type", "scope", "actor_token", "actor_token_type", "client_id")  # fmt: skip
_NOT_VERIFIED = "the subject token could not be verified"
_NOT_ALLOWED = "the subject token does not allow acting as that service account"


class Exchange:
    """The trusted issuers (``exchangerules``) and, per issuer, its cached keys; one per worker."""

    def __init__(self, issuers: Mapping[str, TrustedIssuer]) -> None:
        self.issuers = dict(issuers)
        self._providers = {
            url: Provider(
                url,
                trusted.ca_file or True,
                timeout=trusted.timeout,
                max_age=trusted.jwks_max_age,
                logger=log,
            )
            for url, trusted in self.issuers.items()
        }

    @classmethod
    def from_config(cls, config: OIDCConfig, issuer_url: str) -> Exchange | None:
        """None when ``token_exchange`` is empty (the grant is then not offered)."""
        issuers = parse_exchange(config.token_exchange, issuer_url)
        return cls(issuers) if issuers else None

    def verify(self, token: str, now: float) -> tuple[TrustedIssuer, dict[str, Any]]:
        """The trusted issuer and the claims of ``token``, verified (module docstring); or
        ``IssuerError`` with the reason in ``detail``."""
        claims = unverified_claims(token)
        iss = claims.get("iss")
        trusted = self.issuers.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise IssuerError(f"issuer {str(iss)[:200]!r} is not trusted for token exchange")
        verify_signature(token, self._providers[trusted.url])
        # ``claims`` was decoded from the very payload segment the signature covers.
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in trusted.audiences for a in auds):
            raise IssuerError(f"audience {str(aud)[:200]} is not accepted (want one of "
                              f"{list(trusted.audiences)})")  # fmt: skip
        exp = numeric_date(claims, "exp", required=True)
        if exp is None or now >= exp:
            raise IssuerError("token is expired")
        nbf = numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + CLOCK_SKEW:
            raise IssuerError("token is not valid yet (nbf)")
        iat = numeric_date(claims, "iat", required=True)
        if iat is None or iat > now + CLOCK_SKEW:
            raise IssuerError("token was issued in the future (iat)")
        if now - iat > trusted.max_token_age:
            raise IssuerError(f"token is too old: issued {int(now - iat)} s ago, "
                              f"max_token_age is {trusted.max_token_age}")  # fmt: skip
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise IssuerError("token has no sub")
        return trusted, claims


class _Refused(Exception):
    """A refusal: the OAuth error for the client and the reason for the audit log."""

    def __init__(self, error: type[OAuth2Error], description: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.description = description
        self.reason = reason


@dataclass
class _Audit:
    """What the audit row of this exchange says, filled in as the request is checked."""

    detail: dict[str, Any]
    username: str | None = None


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    server: OIDCServer
    request: FlaskOAuth2Request
    exchange: Exchange  # set by ``extension``
    _result: dict[str, Any] | None = None  # the answer, once validate_token_request granted it

    @staticmethod
    def extension(exchange: Exchange) -> Any:
        """The ``register_grant`` extension that hands ``exchange`` to each grant instance."""

        def attach(grant: TokenExchangeGrant) -> None:
            grant.exchange = exchange

        return attach

    def validate_token_request(self) -> None:
        audit = _Audit({})
        try:
            self._result = self._exchange(audit)
        except _Refused as refused:
            audit.detail["reason"] = refused.reason[:500]
            self._audit("refused", audit)
            log.info("token exchange refused: %s", refused.reason[:500])
            raise refused.error(description=refused.description) from None
        self._audit("success", audit)

    # types-authlib types the body as str; authlib's own grants return the token dict
    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:  # type: ignore[override]
        if self._result is None:  # authlib validates first; never reached otherwise
            raise InvalidRequestError()
        return 200, self._result, self.TOKEN_RESPONSE_HEADER

    def _audit(self, outcome: str, audit: _Audit) -> None:
        self.server.issuer.store.audit("token_exchange", outcome, username=audit.username,
                                       ip=flask_request.remote_addr, detail=audit.detail)  # fmt: skip

    def _client(self) -> Client:
        """No client authentication, or the public client's (module docstring)."""
        settings = self.server.issuer.settings
        if "Authorization" not in (self.request.headers or {}) and not self._param("client_id"):
            return Client(settings.client_id, public=True)
        client = authenticate_public(self.server.query_client, self.request)
        if client is None:
            raise _Refused(InvalidClientError, "send no client credentials, or the public "
                           "client's id", "client authentication failed")  # fmt: skip
        return client

    def _datalist(self) -> Mapping[str, list[Any]]:
        payload = self.request.payload
        return payload.datalist if payload is not None else {}

    def _param(self, name: str) -> str | None:
        values = self._datalist().get(name) or []
        return str(values[0]) if values else None

    def _exchange(self, audit: _Audit) -> dict[str, Any]:
        datalist = self._datalist()
        for name in _SINGLE:
            if len(datalist.get(name) or []) > 1:
                raise _Refused(InvalidRequestError, f"send {name} once", f"{name} sent twice")
        self._client()
        if self._param("actor_token") or self._param("actor_token_type"):
            raise _Refused(InvalidRequestError, "actor_token is not supported (impersonation "
                           "only)", "actor_token sent")  # fmt: skip
        kind = self._param("subject_token_type")
        if kind not in SUBJECT_TOKEN_TYPES:
            raise _Refused(InvalidRequestError, f"subject_token_type must be {JWT} or {ID_TOKEN}",
                           f"subject_token_type {str(kind)[:100]!r}")  # fmt: skip
        token = self._param("subject_token")
        if not token:
            raise _Refused(InvalidRequestError, "subject_token is required", "no subject_token")
        if len(token) > MAX_SUBJECT_TOKEN_CHARS:
            raise _Refused(InvalidRequestError, f"subject_token is too long (at most "
                           f"{MAX_SUBJECT_TOKEN_CHARS} characters)",
                           f"subject_token too long: {len(token)} characters")  # fmt: skip
        wanted = self._param("requested_token_type") or ACCESS_TOKEN
        if wanted not in (ACCESS_TOKEN, ID_TOKEN):
            raise _Refused(InvalidRequestError, f"requested_token_type must be {ACCESS_TOKEN} or "
                           f"{ID_TOKEN}", f"requested_token_type {wanted[:100]!r}")  # fmt: skip
        scope = self._param("scope")
        if scope is not None and not set(scope_to_list(scope) or []) <= set(SCOPES):
            raise _Refused(InvalidScopeError, "only the openid and email scopes are issued",
                           f"scope {scope[:100]!r}")  # fmt: skip
        audience = self._target()
        audit.detail["aud"] = audience
        issuer = self.server.issuer
        try:
            trusted, claims = self.exchange.verify(token, issuer.store.now())
        except IssuerError as exc:
            audit.detail["iss"] = self._claimed_issuer(token)
            raise _Refused(InvalidGrantError, _NOT_VERIFIED, exc.detail) from None
        audit.detail.update(iss=trusted.url, sub=str(claims["sub"])[:256])
        name, rule = self._account(trusted, claims, audit)
        audit.username, audit.detail["rule"] = name, rule
        row = issuer.store.service_account_by_name(name)
        requested = self._param("requested_subject")
        if (
            row is None
            or row["disabled"]
            or (requested and "@" in requested and not _same(requested, row["email"]))
        ):
            raise _Refused(InvalidGrantError, "the service account is unknown or disabled",
                           f"service account {name!r} is unknown or disabled")  # fmt: skip
        identity = Identity(row["sub"], row["email"], "service", row["name"])
        minted = issuer.issue(identity, audience=audience, scope="openid email",
                              act={"iss": trusted.url, "sub": claims["sub"]})  # fmt: skip
        chosen = "access_token" if wanted == ACCESS_TOKEN else "id_token"
        return {
            "access_token": minted[chosen],
            "issued_token_type": wanted,
            "token_type": "Bearer" if wanted == ACCESS_TOKEN else "N_A",
            "expires_in": minted["expires_in"],
        }

    def _target(self) -> str:
        """The issued token's audience: ``audience`` (RFC 8693 section 2.1); ``resource`` is not
        supported."""
        settings = self.server.issuer.settings
        if self._param("resource") is not None:
            raise _Refused(InvalidTargetError, "name the target with audience; resource is not "
                           "supported", "resource sent")  # fmt: skip
        audience = self._param("audience") or settings.service_account_default_audience
        if audience not in settings.service_account_audiences:
            raise _Refused(InvalidTargetError, "this issuer does not mint tokens for that audience",
                           f"audience {audience[:100]!r} is not a service-account audience")  # fmt: skip
        return audience

    def _account(
        self, trusted: TrustedIssuer, claims: Mapping[str, Any], audit: _Audit
    ) -> tuple[str, str]:
        """The service account's name and the rule that lets the subject act as it."""
        allowed = trusted.allowed(claims)
        requested = self._param("requested_subject")
        if requested is not None:
            audit.detail["requested"] = requested[:320]
        if not allowed:
            raise _Refused(UnauthorizedClientError, _NOT_ALLOWED,
                           f"no rule of {trusted.url} matches the subject token")  # fmt: skip
        if not requested:
            if len(allowed) != 1:
                raise _Refused(InvalidRequestError, "name the service account in "
                               "requested_subject (its name or email)",
                               "no requested_subject, and the rules name several accounts")  # fmt: skip
            return next(iter(allowed.items()))
        name = requested.strip().lower().partition("@")[0]
        if name not in allowed:
            raise _Refused(UnauthorizedClientError, _NOT_ALLOWED,
                           f"no rule that matches lets the subject act as {name[:64]!r}")  # fmt: skip
        return name, allowed[name]

    @staticmethod
    def _claimed_issuer(token: str) -> str | None:
        """The unverified ``iss`` of a refused token, for the audit log only."""
        try:
            iss = unverified_claims(token).get("iss")
        except IssuerError:
            return None
        return str(iss)[:200] if iss is not None else None


def _same(requested: str, email: str) -> bool:
    return requested.strip().lower() == email.lower()


__all__ = ["ACCESS_TOKEN", "ID_TOKEN", "JWT", "TOKEN_EXCHANGE", "Exchange", "TokenExchangeGrant"]
