"""OIDC identity-token verification against the configured issuers (fulcio.md section 4.4).

Pipeline: the token must have exactly three parts and strict JSON parts (``strictjson``); ``iss`` is
read *unverified* only to pick the issuer (exact entry, then meta-issuer); the issuer's discovery
document and JWKS come from ``issuers`` (cached for a bounded time, refetched for an unknown ``kid``
at most once per ``refetch_interval`` seconds, fetched with a deadline and a size cap).
Accepted algorithms: the intersection of the discovery document's
``id_token_signing_alg_values_supported`` (RS256 if absent) with RS/PS/ES 256/384/512 and EdDSA, so
``none`` and HMAC never verify; the key's type and curve must fit the algorithm. Claims: ``aud``
contains the issuer's ClientID, ``exp`` in the future with no leeway, ``nbf`` (if present) at most
one minute ahead; ``exp``, ``nbf`` and ``iat`` must be finite numbers.

Every refusal raises ``protocol.errors.ValidationError("There was an error processing the identity
token")``; the reason is logged.
"""

from __future__ import annotations

import base64
import math
import re
import tempfile
import time
from collections.abc import Callable
from typing import Any

import jwt

from sigstack.protocol import strictjson
from sigstack.protocol.errors import ValidationError

from .config import IdentityConfig, Issuer
from .errors import MSG_TOKEN, client_error
from .issuers import ALGORITHMS, DEFAULT_MAX_AGE, MAX_DOCUMENT_BYTES, Provider, Providers

MAX_TOKEN_BYTES = 64 * 1024


# A JWS compact serialisation: three unpadded base64url parts (RFC 7515 section 7.1).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _b64decode(part: str) -> bytes:
    if len(part) % 4 == 1:
        raise client_error(MSG_TOKEN, "token part is not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64json(part: str) -> Any:
    try:
        return strictjson.loads(_b64decode(part), "token part")
    except (ValueError, ValidationError) as exc:
        raise client_error(MSG_TOKEN, "token part is not base64url JSON") from exc


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token, *not verified*; used only to route to an issuer."""
    if len(token) > MAX_TOKEN_BYTES or not _COMPACT.fullmatch(token):
        raise client_error(MSG_TOKEN, "token is not a three-part JWS")
    payload = _b64json(token.split(".")[1])
    if not isinstance(payload, dict):
        raise client_error(MSG_TOKEN, "token payload is not a JSON object")
    return payload


class TokenVerifier:
    """Verifies identity tokens for an ``IdentityConfig``; returns (issuer, claims).

    ``timeout`` bounds one refresh of an issuer's discovery and JWKS, ``max_age`` how long they are
    trusted, ``max_bytes`` each document's size, ``lock_wait`` (default ``timeout``) how long a
    request waits for a refresh another request started; ``max_cached`` meta-issuer-derived
    issuers are kept (see ``issuers``). ``clock`` is for token times, ``monotonic`` for the cache.
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
        self._settings = {
            "timeout": timeout, "refetch_interval": refetch_interval, "max_age": max_age,
            "max_bytes": max_bytes, "monotonic": monotonic,
            "lock_wait": timeout if lock_wait is None else lock_wait,
        }  # fmt: skip
        self._providers = Providers(identity.issuers, self._new_provider, max_cached)
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
        return Provider(issuer, self._bundle_for(issuer), **self._settings)  # type: ignore[arg-type]

    def verify(self, token: str) -> tuple[Issuer, dict[str, Any]]:
        if not token:
            raise client_error(MSG_TOKEN, "no identity token in the request")
        claims = unverified_claims(token)
        iss = claims.get("iss")
        issuer = self.identity.lookup(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise client_error(MSG_TOKEN, f"issuer {iss!r} is not configured")
        header = _b64json(token.split(".")[0])
        if not isinstance(header, dict):
            raise client_error(MSG_TOKEN, "token header is not a JSON object")
        if "crit" in header or header.get("b64", True) is not True:
            # No critical extension is understood here (RFC 7515 section 4.1.11); an unencoded
            # payload (RFC 7797) is not an ID token.
            raise client_error(MSG_TOKEN, "token header has parameters that are not supported")
        alg = header.get("alg")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise client_error(MSG_TOKEN, "token kid is not a string")
        keyset = self._providers.get(issuer).keyset(kid)
        if alg not in keyset.algs:
            raise client_error(MSG_TOKEN, f"token algorithm {alg!r} is not accepted")
        self._check_signature(token, alg, keyset.candidates(kid, alg))
        # ``claims`` was decoded from the very payload segment the signature covers.
        self._check_claims(issuer, claims)
        return issuer, claims

    def _check_signature(self, token: str, alg: str, candidates: list[Any]) -> None:
        """The JWS signature over ``header.payload`` verifies under one of ``candidates``."""
        signing_input, _, encoded = token.rpartition(".")
        try:
            signature = _b64decode(encoded)
        except ValueError as exc:
            raise client_error(MSG_TOKEN, "token signature is not base64url") from exc
        algorithm = ALGORITHMS[alg]
        message = signing_input.encode()
        for key in candidates:
            try:
                if algorithm.verify(message, key, signature):
                    return
            except (jwt.InvalidKeyError, ValueError, TypeError):
                continue
        raise client_error(MSG_TOKEN, "no key of the issuer verifies the token signature")

    def _check_claims(self, issuer: Issuer, claims: dict[str, Any]) -> None:
        if claims.get("iss") != issuer.url:
            raise client_error(MSG_TOKEN, "iss does not match the issuer")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if issuer.client_id not in auds:
            raise client_error(MSG_TOKEN, f'expected audience "{issuer.client_id}" got {auds}')
        now = self.clock()
        exp = _numeric_date(claims, "exp", required=True)
        if exp is None or now >= exp:
            raise client_error(MSG_TOKEN, "token is expired")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + 60:
            raise client_error(MSG_TOKEN, "token is not valid yet (nbf)")
        _numeric_date(claims, "iat")  # not checked against the clock (as upstream), but typed
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise client_error(MSG_TOKEN, "token has no sub")


def _numeric_date(claims: dict[str, Any], name: str, required: bool = False) -> float | None:
    """A NumericDate claim (RFC 7519 section 2): a finite JSON number, fractions allowed; absent
    gives ``None`` unless ``required``. ``null``, booleans and strings are refused, as go-oidc does;
    non-finite numbers never get here (``strictjson``) but are refused here too."""
    if name not in claims:
        if required:
            raise client_error(MSG_TOKEN, f"token has no {name}")
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise client_error(MSG_TOKEN, f"token {name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise client_error(MSG_TOKEN, f"token {name} is not a finite number")
    return value


def bearer(header: str | None) -> str:
    """The token of an ``Authorization`` header: first ``"Bearer "`` removed, as grpc-gateway does."""
    return (header or "").replace("Bearer ", "", 1).strip()
