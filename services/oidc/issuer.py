"""The issuer's policy in one object: its URL, lifetimes, audiences, and the tokens it mints.

A token response (``issue``) holds a JWT ``access_token`` and an ``id_token`` with the same identity
claims, because cosign reads ``id_token`` and sigstore-python reads ``access_token``
(spec/oidc.md §2): ``iss`` (byte-identical to discovery), ``sub`` (immutable, random at account
creation), ``aud`` as a plain string, ``iat``, a short ``exp``, ``email`` with
``email_verified: true`` (Fulcio's email-type issuer needs both, for people and service accounts
alike), ``nonce`` when the client sent one; the ID token adds ``at_hash``. Also the verification of
access tokens presented back to us (``/userinfo``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sigstack.protocol.errors import ConfigError, VerificationError

from . import tokens
from .config import OIDCConfig
from .keys import KeyRing
from .store import Identity, Store

audit_log = logging.getLogger("sigstack.oidc.audit")

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ("openid", "email")


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    token_lifetime: int
    code_lifetime: int
    device_lifetime: int
    device_interval: int
    login_max_failures: int
    login_ip_max_failures: int
    login_window: int
    login_backoff: int
    login_lockout: int
    service_account_audiences: tuple[str, ...]
    service_account_default_audience: str

    @classmethod
    def from_config(cls, config: OIDCConfig) -> Settings:
        issuer = config.issuer_url or ""
        check_issuer_url(issuer)
        audiences = config.service_account_audiences or ["sigstore"]
        if isinstance(audiences, str):
            audiences = [a.strip() for a in audiences.split(",") if a.strip()]
        if not isinstance(audiences, list | tuple) or not audiences:
            raise ConfigError("service_account_audiences must be a list of audiences")
        default_aud = config.service_account_default_audience or str(audiences[0])
        lockout = _whole(config, "login_lockout_seconds", 1, 86400)
        settings = cls(
            issuer=issuer,
            client_id=config.client_id,
            # short-lived by construction (spec/oidc.md §5): a token is a bearer credential for
            # a Fulcio certificate, which itself lives 10 minutes
            token_lifetime=_whole(config, "token_lifetime", 30, 600),
            code_lifetime=_whole(config, "code_lifetime", 10, 300),
            device_lifetime=_whole(config, "device_code_lifetime", 60, 1800),
            device_interval=_whole(config, "device_poll_interval", 1, 60),
            login_max_failures=_whole(config, "login_max_failures", 1, 1000),
            login_ip_max_failures=_whole(config, "login_ip_max_failures", 1, 100000),
            login_window=_whole(config, "login_window_seconds", 1, 86400),
            login_backoff=_whole(config, "login_backoff_seconds", 1, lockout),
            login_lockout=lockout,
            service_account_audiences=tuple(str(a) for a in audiences),
            service_account_default_audience=default_aud,
        )
        if default_aud not in settings.service_account_audiences:
            raise ConfigError(
                "service_account_default_audience must be one of service_account_audiences"
            )
        return settings


def _whole(config: OIDCConfig, key: str, low: int, high: int) -> int:
    """The key's value (a whole number: ``OIDCConfig`` converted it) in ``[low, high]``, or a
    ``ConfigError`` naming the key."""
    value: int = getattr(config, key)
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
    return value


def check_issuer_url(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"issuer URL {issuer!r} must be an absolute http(s) URL")
    if parts.query or parts.fragment or parts.username or issuer.endswith("/"):
        raise ConfigError(
            f"issuer URL {issuer!r} must have no query, fragment, user or "
            "trailing slash (it is compared byte for byte)"
        )


class Issuer:
    def __init__(self, settings: Settings, store: Store, keyring: KeyRing) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring

    @property
    def url(self) -> str:
        return self.settings.issuer

    @property
    def path_prefix(self) -> str:
        return urlsplit(self.settings.issuer).path.rstrip("/")

    def endpoint(self, path: str) -> str:
        return self.settings.issuer + path

    def issue(
        self,
        identity: Identity,
        *,
        audience: str,
        scope: str,
        nonce: str | None = None,
        auth_time: int | None = None,
        act: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Mint the access token and ID token for ``identity`` and return the token response;
        ``act`` names who acts as ``identity`` (RFC 8693 section 4.1, token exchange)."""
        now = self.store.now()
        exp = now + self.settings.token_lifetime
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": identity.sub,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "email": identity.email,
            "email_verified": True,
        }
        if identity.connector:  # signed in upstream (docs/oidc.md, "What a token contains")
            claims["groups"] = list(identity.groups)
            claims["federated_claims"] = {
                "connector_id": identity.connector,
                "user_id": identity.upstream_sub,
            }
        if nonce:
            claims["nonce"] = nonce
        if act:
            claims["act"] = dict(act)
        access_token = self.keyring.sign({**claims, "jti": secrets.token_urlsafe(16)})
        id_claims = {**claims, "at_hash": tokens.at_hash(access_token, self.keyring.alg)}
        if auth_time is not None:
            id_claims["auth_time"] = auth_time
        id_token = self.keyring.sign(id_claims)
        audit_log.info("token issued sub=%s kind=%s aud=%s", identity.sub, identity.kind, audience)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.settings.token_lifetime,
            "scope": scope,
            "id_token": id_token,
        }

    def accepted_audiences(self) -> set[str]:
        return {self.settings.client_id, *self.settings.service_account_audiences}

    def verify_access_token(self, token: str) -> Identity:
        """The identity behind an access token we issued, or ``VerificationError``."""
        claims = tokens.verify(
            token,
            self.keyring.verification_keys(),
            issuer=self.settings.issuer,
            audiences=self.accepted_audiences(),
            now=self.store.now(),
        )
        sub = claims.get("sub")
        identity = self.store.identity(sub) if isinstance(sub, str) else None
        if identity is None:
            raise VerificationError("token subject is unknown or disabled")
        return identity
