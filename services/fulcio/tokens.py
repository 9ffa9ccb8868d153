"""OIDC identity-token verification against the configured issuers (fulcio.md section 4.4).

Pipeline: the token must have exactly three parts and strict JSON parts (``strictjson``); ``iss`` is
read *unverified* only to pick the issuer (exact entry, then meta-issuer); the issuer's discovery
document and JWKS come from ``services.runtime.issuerkeys`` (cached for a bounded time, refetched
for an unknown ``kid`` at most once per ``refetch_interval`` seconds, fetched with a deadline and a
size cap), which also checks the JWS header and signature.
Accepted algorithms: the intersection of the discovery document's
``id_token_signing_alg_values_supported`` (RS256 if absent) with RS/PS/ES 256/384/512 and EdDSA, so
``none`` and HMAC never verify; the key's type and curve must fit the algorithm. Claims: ``aud``
contains the issuer's ClientID, ``exp`` in the future with no leeway, ``nbf`` (if present) at most
one minute ahead; ``exp``, ``nbf`` and ``iat`` must be finite numbers.

Every refusal raises ``protocol.errors.ValidationError("There was an error processing the identity
token")``; the reason (``IssuerError.detail`` for the shared checks) is logged.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from sigstack.services.runtime.issuerkeys import (
    DEFAULT_MAX_AGE,
    MAX_DOCUMENT_BYTES,
    IssuerError,
    Provider,
    Providers,
    numeric_date,
    verify_signature,
)
from sigstack.services.runtime.issuerkeys import unverified_claims as _unverified_claims

from .config import IdentityConfig, Issuer
from .errors import MSG_TOKEN, client_error, log


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token, *not verified*; used only to route to an issuer."""
    try:
        return _unverified_claims(token)
    except IssuerError as exc:
        raise client_error(MSG_TOKEN, exc.detail) from exc


class TokenVerifier:
    """Verifies identity tokens for an ``IdentityConfig``; returns (issuer, claims).

    ``timeout`` bounds one refresh of an issuer's discovery and JWKS, ``max_age`` how long they are
    trusted, ``max_bytes`` each document's size, ``lock_wait`` (default ``timeout``) how long a
    request waits for a refresh another request started; ``max_cached`` meta-issuer-derived
    issuers are kept (see ``issuerkeys``). ``clock`` is for token times, ``monotonic`` for the cache.
    """

    def __init__(
        self,
        identity: IdentityConfig,
        *,
        timeout: float = 10.0,
        refetch_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_cached: int = 100,
        max_age: float = DEFAULT_MAX_AGE,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        lock_wait: float | None = None,
    ) -> None:
        self.identity = identity
        self.clock = clock
        self._timeout, self._refetch, self._max_age = timeout, refetch_interval, max_age
        self._max_bytes, self._monotonic, self._lock_wait = max_bytes, monotonic, lock_wait
        self._providers = Providers(identity.issuers, max_cached)
        self._bundles: dict[str, str] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="fulcio-ca-")

    def _bundle_for(self, issuer: Issuer) -> str | bool:
        """The system roots plus the issuer's ``CACert``, as a file for ``requests``."""
        if not issuer.ca_cert:
            return True
        path = self._bundles.get(issuer.ca_cert)
        if path is None:
            import certifi

            path = f"{self._tmp.name}/{len(self._bundles)}.pem"
            with open(certifi.where()) as system, open(path, "w") as out:
                out.write(system.read() + "\n" + issuer.ca_cert)
            self._bundles[issuer.ca_cert] = path
        return path

    def _new_provider(self, issuer: Issuer) -> Provider:
        # Called by Providers under its lock, so _bundles needs no lock of its own.
        return Provider(issuer.url, self._bundle_for(issuer), timeout=self._timeout,
                        lock_wait=self._lock_wait, refetch_interval=self._refetch,
                        max_age=self._max_age, max_bytes=self._max_bytes,
                        monotonic=self._monotonic, logger=log)  # fmt: skip

    def verify(self, token: str) -> tuple[Issuer, dict[str, Any]]:
        if not token:
            raise client_error(MSG_TOKEN, "no identity token in the request")
        try:
            claims = _unverified_claims(token)
            iss = claims.get("iss")
            issuer = self.identity.lookup(iss) if isinstance(iss, str) else None
            if issuer is None:
                raise IssuerError(f"issuer {iss!r} is not configured")
            found = issuer  # bound for the lambda: mypy cannot narrow inside it
            provider = self._providers.get(issuer.url, lambda: self._new_provider(found))
            verify_signature(token, provider)
            # ``claims`` was decoded from the very payload segment the signature covers.
            self._check_claims(issuer, claims)
        except IssuerError as exc:
            raise client_error(MSG_TOKEN, exc.detail) from exc
        return issuer, claims

    def _check_claims(self, issuer: Issuer, claims: dict[str, Any]) -> None:
        if claims.get("iss") != issuer.url:
            raise IssuerError("iss does not match the issuer")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if issuer.client_id not in auds:
            raise IssuerError(f'expected audience "{issuer.client_id}" got {auds}')
        now = self.clock()
        exp = numeric_date(claims, "exp", required=True)
        if exp is None or now >= exp:
            raise IssuerError("token is expired")
        nbf = numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + 60:
            raise IssuerError("token is not valid yet (nbf)")
        numeric_date(claims, "iat")  # not checked against the clock (as upstream), but typed
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise IssuerError("token has no sub")


def bearer(header: str | None) -> str:
    """The token of an ``Authorization`` header: first ``"Bearer "`` removed, as grpc-gateway does."""
    return (header or "").replace("Bearer ", "", 1).strip()


__all__ = ["TokenVerifier", "bearer", "unverified_claims"]
