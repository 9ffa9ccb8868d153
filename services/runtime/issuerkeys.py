"""An OIDC issuer's discovery document and JWKS, cached for a bounded time, and the check of a
token's JWS signature against them (fulcio.md section 4.4; the cache rules are Fulcio's own, issue
11). Shared by Fulcio (identity tokens) and the OIDC issuer (RFC 8693 subject tokens); moved here
from ``services/fulcio/issuers.py`` (issue 16). What a token's claims must say is each service's.

``KeySet`` is an immutable snapshot: the accepted algorithms (discovery's
``id_token_signing_alg_values_supported`` intersected with RS/PS/ES 256/384/512 and EdDSA; RS256 when
absent) and the JWKS's signing keys, parsed once, by ``kid``. A request reads the current snapshot
without a lock and never writes to it.

``Provider`` refreshes the snapshot (discovery, then JWKS) when it has expired, or when a token names
a ``kid`` it lacks and the last fetch is at least ``refetch_interval`` old. A snapshot lives as long
as both documents' ``Cache-Control: max-age`` allows, capped at ``max_age`` (default 300 s), 60 s
(at most ``max_age``) when a document says nothing, and never less than ``refetch_interval``: a key
the issuer removes stops verifying within ``max_age``. A failed refresh keeps no keys that have
expired (fail closed) and is not retried for ``refetch_interval``.

One refresh per issuer runs at a time, on its own short-lived thread with a deadline of ``timeout``
seconds for both fetches. The request that started it waits for it up to that deadline; requests
arriving meanwhile wait at most ``lock_wait`` and are refused after that. So no request thread waits
unboundedly, even on a server that trickles its headers (``issuerfetch``).

``Providers`` holds one ``Provider`` per configured issuer (never evicted) and, for other issuers
(Fulcio's meta-issuer patterns), at most ``max_cached`` in least-recently-used order.

The JWS checks (``unverified_claims``, ``jws_header``, ``verify_signature``, ``numeric_date``): a
compact JWS of three base64url parts of strict JSON (``strictjson``), at most 64 KiB; no ``crit``
header and no unencoded payload (RFC 7515 section 4.1.11, RFC 7797); the header's ``alg`` one of the
snapshot's algorithms, so ``none`` and HMAC never verify; a key of the matching type and curve.

Every refusal raises ``issuerfetch.IssuerError``: a generic, safe ``message`` and the reason in
``detail``, which the calling service logs.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from sigstack.protocol import strictjson
from sigstack.protocol.errors import ValidationError

from .issuerfetch import IssuerError, get_json

log = logging.getLogger("sigstack.issuers")

SUPPORTED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
ALGORITHMS = get_default_algorithms()
# Key type (and curve) each algorithm verifies with (RFC 7518 section 3.4, RFC 8037).
_KEY_FOR_ALG = {
    **{f"{p}{n}": ("RSA", None) for p in ("RS", "PS") for n in (256, 384, 512)},
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}  # fmt: skip
_PARSER = {"RSA": ALGORITHMS["RS256"], "EC": ALGORITHMS["ES256"], "OKP": ALGORITHMS["EdDSA"]}
DEFAULT_MAX_AGE = 300.0
ABSENT_MAX_AGE = 60.0
MAX_DOCUMENT_BYTES = 1 << 20
MAX_TOKEN_BYTES = 64 * 1024
# A JWS compact serialisation: three unpadded base64url parts (RFC 7515 section 7.1).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Key:
    kty: str
    crv: str | None
    public: Any  # a cryptography public key object


@dataclass(frozen=True)
class KeySet:
    algs: tuple[str, ...]
    keys: Mapping[str | None, tuple[Key, ...]]
    fetched: float  # monotonic time the refresh started
    expires: float

    def candidates(self, kid: str | None, alg: str) -> list[Any]:
        """Public keys that may have signed a token with ``kid`` and ``alg``."""
        group = (
            [k for keys in self.keys.values() for k in keys]
            if kid is None
            else self.keys.get(kid, ())
        )
        kty, crv = _KEY_FOR_ALG[alg]
        return [k.public for k in group if k.kty == kty and (crv is None or k.crv == crv)]


def _algorithms(doc: Mapping[str, Any], url: str) -> tuple[str, ...]:
    offered = doc.get("id_token_signing_alg_values_supported") or []  # null: absent (go-oidc)
    if not isinstance(offered, list) or not all(isinstance(a, str) for a in offered):
        raise IssuerError(f"discovery for {url} lists algorithms oddly")
    return tuple(a for a in SUPPORTED_ALGS if a in (offered or ["RS256"]))


def _keys(jwks: Any, url: str, logger: logging.Logger = log) -> dict[str | None, tuple[Key, ...]]:
    found = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(found, list):
        raise IssuerError(f"the JWKS of {url} has no keys list")
    keys: dict[str | None, list[Key]] = {}
    for jwk in found:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid, kty, crv = jwk.get("kid"), jwk.get("kty"), jwk.get("crv")
        if (kid is not None and not isinstance(kid, str)) or not isinstance(kty, str):
            continue
        if kty not in _PARSER:
            continue
        if "d" in jwk:  # a private key (RFC 7518 section 6.2.2.1, 6.3.2.1; RFC 8037): leaked
            logger.warning("ignoring a private key published in the JWKS of %s", url)
            continue
        try:
            public = _PARSER[kty].from_jwk(jwk)
        except Exception as exc:  # noqa: BLE001 (PyJWT raises several types for a bad JWK)
            logger.warning("ignoring a key of %s that does not parse: %r", url, exc)
            continue
        keys.setdefault(kid, []).append(Key(kty, crv if isinstance(crv, str) else None, public))
    return {kid: tuple(group) for kid, group in keys.items()}


@dataclass
class _Refresh:
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""


class Provider:
    """The cached ``KeySet`` of the issuer ``url`` (module docstring); thread-safe. ``verify_tls``
    is ``requests``' ``verify``: True, or a CA bundle file."""

    def __init__(
        self,
        url: str,
        verify_tls: str | bool = True,
        *,
        timeout: float = 10.0,
        lock_wait: float | None = None,
        refetch_interval: float = 1.0,
        max_age: float = DEFAULT_MAX_AGE,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.url = url
        self.verify_tls = verify_tls
        self.timeout = timeout
        self.lock_wait = timeout if lock_wait is None else lock_wait
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.monotonic = monotonic
        self.log = logger
        self._keyset: KeySet | None = None
        self._refresh: _Refresh | None = None
        self._retry_at = float("-inf")
        self._lock = threading.Lock()  # guards the three fields above; never held during I/O

    def _usable(self, keyset: KeySet | None, kid: str | None, now: float) -> bool:
        if keyset is None or now >= keyset.expires:
            return False
        return kid is None or kid in keyset.keys or now < keyset.fetched + self.refetch_interval

    def keyset(self, kid: str | None) -> KeySet:
        """A snapshot that has not expired, refreshed first if it lacks ``kid``."""
        keyset = self._keyset
        if keyset is not None and self._usable(keyset, kid, self.monotonic()):
            return keyset
        with self._lock:
            now = self.monotonic()
            keyset = self._keyset
            if keyset is not None and self._usable(keyset, kid, now):
                return keyset
            refresh, wait = self._refresh, self.lock_wait
            if refresh is None:
                if now < self._retry_at:
                    raise IssuerError(f"keys of {self.url} failed recently")
                refresh, wait = _Refresh(), self.timeout + 0.5
                thread = threading.Thread(target=self._run, args=(refresh, now), daemon=True,
                                          name="issuer-keys-refresh")  # fmt: skip
                try:
                    thread.start()
                except RuntimeError as exc:  # no thread to be had: refuse, retry later
                    raise IssuerError(f"cannot refresh {self.url}: {exc}") from exc
                self._refresh = refresh  # _run waits for our lock before it clears this
        if not refresh.done.wait(wait):
            raise IssuerError(f"keys of {self.url} are still being fetched")
        if refresh.error:
            raise IssuerError(f"keys of {self.url}: {refresh.error}")
        keyset = self._keyset
        if keyset is None or self.monotonic() >= keyset.expires:
            raise IssuerError(f"keys of {self.url} expired at once")
        return keyset

    def _run(self, refresh: _Refresh, started: float) -> None:
        keyset = None
        try:
            keyset = self._fetch(started)
        except IssuerError as exc:
            refresh.error = exc.detail or "refused"
        except Exception as exc:  # noqa: BLE001 (a refresh thread must always finish)
            self.log.exception("refreshing the keys of %s failed", self.url)
            refresh.error = type(exc).__name__
        with self._lock:
            if keyset is not None:
                self._keyset = keyset
            else:
                self._retry_at = started + self.refetch_interval
            self._refresh = None
        refresh.done.set()

    def _lifetime(self, max_age: float | None) -> float:
        wanted = min(ABSENT_MAX_AGE, self.max_age) if max_age is None else max_age
        return max(self.refetch_interval, min(wanted, self.max_age))

    def _fetch(self, started: float) -> KeySet:
        url = self.url
        deadline = time.monotonic() + self.timeout
        discovery = get_json(url.rstrip("/") + "/.well-known/openid-configuration",
                             verify=self.verify_tls, deadline=deadline, max_bytes=self.max_bytes)  # fmt: skip
        doc = discovery.doc
        if not isinstance(doc, dict) or doc.get("issuer") != url:
            raise IssuerError(f"discovery issuer mismatch for {url}")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise IssuerError(f"discovery for {url} has no http(s) jwks_uri")
        algs = _algorithms(doc, url)
        jwks = get_json(jwks_uri, verify=self.verify_tls, deadline=deadline,
                        max_bytes=self.max_bytes)  # fmt: skip
        lifetime = min(self._lifetime(discovery.max_age), self._lifetime(jwks.max_age))
        return KeySet(algs, _keys(jwks.doc, url, self.log), started, started + lifetime)


class Providers:
    """The providers of configured issuers (kept) and of others (LRU, ``max_cached``)."""

    def __init__(self, static_urls: Iterable[str], max_cached: int = 100) -> None:
        self._static_urls = frozenset(static_urls)
        self._max_cached = max_cached
        self._static: dict[str, Provider] = {}
        self._derived: OrderedDict[str, Provider] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, make: Callable[[], Provider]) -> Provider:
        """The provider of ``url``, made by ``make`` (under this object's lock) if new."""
        with self._lock:
            if url in self._static_urls:
                provider = self._static.get(url)
                if provider is None:
                    provider = self._static[url] = make()
                return provider
            provider = self._derived.get(url)
            if provider is not None:
                self._derived.move_to_end(url)
                return provider
            provider = self._derived[url] = make()
            while len(self._derived) > self._max_cached:
                self._derived.popitem(last=False)
            return provider


# -- the token's JWS ----------------------------------------------------------------------------


def _b64decode(part: str) -> bytes:
    if len(part) % 4 == 1:
        raise IssuerError("token part is not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64json(part: str) -> Any:
    try:
        return strictjson.loads(_b64decode(part), "token part")
    except (ValueError, ValidationError) as exc:
        raise IssuerError("token part is not base64url JSON") from exc


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token, *not verified*: only to pick the issuer and, once
    ``verify_signature`` passed, the claims (decoded from the very segment it covers)."""
    if len(token) > MAX_TOKEN_BYTES or not _COMPACT.fullmatch(token):
        raise IssuerError("token is not a three-part JWS")
    payload = _b64json(token.split(".")[1])
    if not isinstance(payload, dict):
        raise IssuerError("token payload is not a JSON object")
    return payload


def jws_header(token: str) -> dict[str, Any]:
    """The protected header of a token ``unverified_claims`` accepted: a JSON object without
    ``crit`` or an unencoded payload, whose ``kid`` (if any) is a string."""
    header = _b64json(token.split(".")[0])
    if not isinstance(header, dict):
        raise IssuerError("token header is not a JSON object")
    if "crit" in header or header.get("b64", True) is not True:
        # No critical extension is understood here (RFC 7515 section 4.1.11); an unencoded
        # payload (RFC 7797) is not an ID token.
        raise IssuerError("token header has parameters that are not supported")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IssuerError("token kid is not a string")
    return header


def verify_signature(token: str, provider: Provider) -> None:
    """The token's JWS signature verifies under a key of the issuer's current JWKS, with an
    algorithm its discovery document accepts (module docstring)."""
    header = jws_header(token)
    kid = header.get("kid")
    keyset = provider.keyset(kid)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in keyset.algs:
        raise IssuerError(f"token algorithm {str(alg)[:16]!r} is not accepted")
    signing_input, _, encoded = token.rpartition(".")
    try:
        signature = _b64decode(encoded)
    except ValueError as exc:
        raise IssuerError("token signature is not base64url") from exc
    algorithm = ALGORITHMS[alg]
    message = signing_input.encode()
    for key in keyset.candidates(kid, alg):
        try:
            if algorithm.verify(message, key, signature):
                return
        except (jwt.InvalidKeyError, ValueError, TypeError):
            continue
    raise IssuerError("no key of the issuer verifies the token signature")


def numeric_date(claims: Mapping[str, Any], name: str, required: bool = False) -> float | None:
    """A NumericDate claim (RFC 7519 section 2): a finite JSON number, fractions allowed; absent
    gives ``None`` unless ``required``. ``null``, booleans and strings are refused, as go-oidc
    does; non-finite numbers never get here (``strictjson``) but are refused here too."""
    if name not in claims:
        if required:
            raise IssuerError(f"token has no {name}")
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IssuerError(f"token {name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise IssuerError(f"token {name} is not a finite number")
    return value


__all__ = ["DEFAULT_MAX_AGE", "MAX_DOCUMENT_BYTES", "IssuerError", "KeySet", "Provider",
           "Providers", "jws_header", "numeric_date", "unverified_claims", "verify_signature"]  # fmt: skip
