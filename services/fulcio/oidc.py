"""OIDC identity-token verification against the configured issuers (fulcio.md section 4.4).

Pipeline: the token must have exactly three parts; ``iss`` is read *unverified* only to pick the
issuer (exact entry, then meta-issuer); discovery ``{iss}/.well-known/openid-configuration`` (its
``issuer`` must equal ``iss``) and the JWKS are fetched lazily and cached per issuer; a token whose
``kid`` is unknown triggers one JWKS refetch (at most once per ``refetch_interval`` seconds).
Accepted algorithms: the intersection of the discovery document's
``id_token_signing_alg_values_supported`` (RS256 if absent) with RS/PS/ES 256/384/512 and EdDSA, so
``none`` and HMAC never verify. Claims: ``aud`` contains the issuer's ClientID, ``exp`` in the future
with no leeway, ``nbf`` (if present) at most one minute ahead. HTTP fetches never follow a redirect to
another host; an issuer's ``CACert`` is added to the system roots for its TLS connections.

Every refusal raises ``protocol.errors.ValidationError("There was an error processing the identity token")``; the
reason is logged.
"""

from __future__ import annotations

import base64
import json
import math
import re
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from jwt.algorithms import get_default_algorithms

from . import strictjson
from .config import IdentityConfig, Issuer
from .errors import MSG_TOKEN, client_error

SUPPORTED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
MAX_TOKEN_BYTES = 64 * 1024
_ALGORITHMS = get_default_algorithms()


# A JWS compact serialisation: three unpadded base64url parts (RFC 7515 section 7.1).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _b64decode(part: str) -> bytes:
    if len(part) % 4 == 1:
        raise client_error(MSG_TOKEN, "token part is not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64json(part: str) -> Any:
    try:
        return strictjson.loads(_b64decode(part))
    except ValueError as exc:
        raise client_error(MSG_TOKEN, "token part is not base64url JSON") from exc


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token, *not verified*; used only to route to an issuer."""
    if len(token) > MAX_TOKEN_BYTES or not _COMPACT.fullmatch(token):
        raise client_error(MSG_TOKEN, "token is not a three-part JWS")
    payload = _b64json(token.split(".")[1])
    if not isinstance(payload, dict):
        raise client_error(MSG_TOKEN, "token payload is not a JSON object")
    return payload


class _Provider:
    """Discovery document and JWKS of one issuer, cached; thread-safe."""

    def __init__(self, issuer: Issuer, http: Callable[[str], Any], refetch_interval: float) -> None:
        self.issuer = issuer
        self.http = http
        self.refetch_interval = refetch_interval
        self.lock = threading.Lock()
        self.algs: tuple[str, ...] = ()
        self.jwks_uri = ""
        self.keys: dict[str | None, list[dict[str, Any]]] = {}
        self.prepared: dict[tuple[int, str], Any] = {}
        self.fetched_at = 0.0

    def _discover(self) -> None:
        url = self.issuer.url.rstrip("/") + "/.well-known/openid-configuration"
        doc = self.http(url)
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer.url:
            raise client_error(MSG_TOKEN, f"discovery issuer mismatch for {self.issuer.url}")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        self.algs = tuple(a for a in SUPPORTED_ALGS if a in offered)
        if not isinstance(doc.get("jwks_uri"), str):
            raise client_error(MSG_TOKEN, f"discovery for {self.issuer.url} has no jwks_uri")
        self.jwks_uri = doc["jwks_uri"]

    def _fetch_keys(self) -> None:
        jwks = self.http(self.jwks_uri)
        keys: dict[str | None, list[dict[str, Any]]] = {}
        for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            if isinstance(jwk, dict) and jwk.get("use", "sig") == "sig":
                keys.setdefault(jwk.get("kid"), []).append(jwk)
        self.keys, self.prepared = keys, {}
        self.fetched_at = time.monotonic()

    def candidates(self, kid: str | None) -> list[dict[str, Any]]:
        with self.lock:
            if not self.jwks_uri:
                self._discover()
                self._fetch_keys()
            found = self._lookup(kid)
            if not found and time.monotonic() - self.fetched_at >= self.refetch_interval:
                self._fetch_keys()
                found = self._lookup(kid)
            return found

    def _lookup(self, kid: str | None) -> list[dict[str, Any]]:
        if kid is None:
            return [k for group in self.keys.values() for k in group]
        return list(self.keys.get(kid, []))

    def key_for(self, jwk: dict[str, Any], alg: str) -> Any:
        cache_key = (id(jwk), alg)
        key = self.prepared.get(cache_key)
        if key is None:
            key = _ALGORITHMS[alg].from_jwk(json.dumps(jwk))
            self.prepared[cache_key] = key
        return key


class TokenVerifier:
    """Verifies identity tokens for an ``IdentityConfig``; returns (issuer, claims)."""

    def __init__(
        self,
        identity: IdentityConfig,
        *,
        timeout: float = 10.0,
        refetch_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        max_cached: int = 100,
    ) -> None:
        self.identity = identity
        self.timeout = timeout
        self.refetch_interval = refetch_interval
        self.clock = clock
        self.max_cached = max_cached
        self._providers: dict[str, _Provider] = {}
        self._lock = threading.Lock()
        self._bundles: dict[str, str] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="fulcio-ca-")

    def _bundle_for(self, issuer: Issuer) -> str | bool:
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

    def _http_getter(self, issuer: Issuer) -> Callable[[str], Any]:
        verify = self._bundle_for(issuer)

        def get(url: str) -> Any:
            for _ in range(4):
                try:
                    resp = requests.get(url, timeout=self.timeout, verify=verify,
                                        allow_redirects=False)  # fmt: skip
                except requests.RequestException as exc:
                    raise client_error(MSG_TOKEN, f"cannot fetch {url}: {exc}") from exc
                if resp.is_redirect:
                    target = urljoin(url, resp.headers.get("Location", ""))
                    if urlsplit(target).netloc != urlsplit(url).netloc:
                        raise client_error(MSG_TOKEN, f"refusing cross-host redirect from {url}")
                    url = target
                    continue
                if resp.status_code != 200:
                    raise client_error(MSG_TOKEN, f"{url} answered {resp.status_code}")
                try:
                    return resp.json()
                except ValueError as exc:
                    raise client_error(MSG_TOKEN, f"{url} did not answer JSON") from exc
            raise client_error(MSG_TOKEN, f"too many redirects from {url}")

        return get

    def _provider(self, issuer: Issuer) -> _Provider:
        with self._lock:
            provider = self._providers.get(issuer.url)
            if provider is None:
                if len(self._providers) >= self.max_cached:
                    self._providers.pop(next(iter(self._providers)))
                provider = _Provider(issuer, self._http_getter(issuer), self.refetch_interval)
                self._providers[issuer.url] = provider
            return provider

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
        provider = self._provider(issuer)
        candidates = provider.candidates(kid)
        if alg not in provider.algs:
            raise client_error(MSG_TOKEN, f"token algorithm {alg!r} is not accepted")
        self._check_signature(provider, token, alg, candidates)
        # ``claims`` was decoded from the very payload segment the signature covers.
        self._check_claims(issuer, claims)
        return issuer, claims

    def _check_signature(
        self, provider: _Provider, token: str, alg: str, candidates: list[dict[str, Any]]
    ) -> None:
        """The JWS signature over ``header.payload`` verifies under one of ``candidates``."""
        signing_input, _, encoded = token.rpartition(".")
        try:
            signature = _b64decode(encoded)
        except ValueError as exc:
            raise client_error(MSG_TOKEN, "token signature is not base64url") from exc
        algorithm = _ALGORITHMS[alg]
        message = signing_input.encode()
        for jwk in candidates:
            try:
                if algorithm.verify(message, provider.key_for(jwk, alg), signature):
                    return
            except (jwt.InvalidKeyError, ValueError, TypeError, KeyError):
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
