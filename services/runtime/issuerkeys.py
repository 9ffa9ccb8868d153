"""An issuer's discovery document and JWKS, cached for a bounded time (fulcio.md section 4.4; the
cache rules are Fulcio's own, issue 11).

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
unboundedly, even on a server that trickles its headers (``fetch``).

``Providers`` holds one ``Provider`` per configured issuer (never evicted) and, for issuers derived
from a meta-issuer pattern, at most ``max_cached`` in least-recently-used order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jwt.algorithms import get_default_algorithms

from sigstack.protocol.errors import ValidationError

from .config import Issuer
from .errors import MSG_TOKEN, client_error
from .fetch import get_json

log = logging.getLogger("sigstack.fulcio")

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
        raise client_error(MSG_TOKEN, f"discovery for {url} lists algorithms oddly")
    return tuple(a for a in SUPPORTED_ALGS if a in (offered or ["RS256"]))


def _keys(jwks: Any, url: str) -> dict[str | None, tuple[Key, ...]]:
    found = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(found, list):
        raise client_error(MSG_TOKEN, f"the JWKS of {url} has no keys list")
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
            log.warning("ignoring a private key published in the JWKS of %s", url)
            continue
        try:
            public = _PARSER[kty].from_jwk(jwk)
        except Exception as exc:  # noqa: BLE001 (PyJWT raises several types for a bad JWK)
            log.warning("ignoring a key of %s that does not parse: %r", url, exc)
            continue
        keys.setdefault(kid, []).append(Key(kty, crv if isinstance(crv, str) else None, public))
    return {kid: tuple(group) for kid, group in keys.items()}


@dataclass
class _Refresh:
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""


class Provider:
    """The cached ``KeySet`` of one issuer (module docstring); thread-safe."""

    def __init__(
        self,
        issuer: Issuer,
        verify_tls: str | bool,
        *,
        timeout: float,
        lock_wait: float,
        refetch_interval: float,
        max_age: float,
        max_bytes: int,
        monotonic: Callable[[], float],
    ) -> None:
        self.issuer = issuer
        self.verify_tls = verify_tls
        self.timeout = timeout
        self.lock_wait = lock_wait
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.monotonic = monotonic
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
        if self._usable(keyset, kid, self.monotonic()):
            return keyset  # type: ignore[return-value]
        with self._lock:
            now = self.monotonic()
            keyset = self._keyset
            if self._usable(keyset, kid, now):
                return keyset  # type: ignore[return-value]
            refresh, wait = self._refresh, self.lock_wait
            if refresh is None:
                if now < self._retry_at:
                    raise client_error(MSG_TOKEN, f"keys of {self.issuer.url} failed recently")
                refresh, wait = _Refresh(), self.timeout + 0.5
                thread = threading.Thread(target=self._run, args=(refresh, now), daemon=True,
                                          name="fulcio-issuer-refresh")  # fmt: skip
                try:
                    thread.start()
                except RuntimeError as exc:  # no thread to be had: refuse, retry later
                    detail = f"cannot refresh {self.issuer.url}: {exc}"
                    raise client_error(MSG_TOKEN, detail) from exc
                self._refresh = refresh  # _run waits for our lock before it clears this
        if not refresh.done.wait(wait):
            raise client_error(MSG_TOKEN, f"keys of {self.issuer.url} are still being fetched")
        if refresh.error:
            raise client_error(MSG_TOKEN, f"keys of {self.issuer.url}: {refresh.error}")
        keyset = self._keyset
        if keyset is None or self.monotonic() >= keyset.expires:
            raise client_error(MSG_TOKEN, f"keys of {self.issuer.url} expired at once")
        return keyset

    def _run(self, refresh: _Refresh, started: float) -> None:
        keyset = None
        try:
            keyset = self._fetch(started)
        except ValidationError as exc:  # the reason is logged by client_error
            refresh.error = str(exc) or "refused"
        except Exception as exc:  # noqa: BLE001 (a refresh thread must always finish)
            log.exception("refreshing the keys of %s failed", self.issuer.url)
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
        url = self.issuer.url
        deadline = time.monotonic() + self.timeout
        discovery = get_json(url.rstrip("/") + "/.well-known/openid-configuration",
                             verify=self.verify_tls, deadline=deadline, max_bytes=self.max_bytes)  # fmt: skip
        doc = discovery.doc
        if not isinstance(doc, dict) or doc.get("issuer") != url:
            raise client_error(MSG_TOKEN, f"discovery issuer mismatch for {url}")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise client_error(MSG_TOKEN, f"discovery for {url} has no http(s) jwks_uri")
        algs = _algorithms(doc, url)
        jwks = get_json(jwks_uri, verify=self.verify_tls, deadline=deadline,
                        max_bytes=self.max_bytes)  # fmt: skip
        lifetime = min(self._lifetime(discovery.max_age), self._lifetime(jwks.max_age))
        return KeySet(algs, _keys(jwks.doc, url), started, started + lifetime)


class Providers:
    """Configured issuers' providers (kept) and meta-issuer-derived ones (LRU, ``max_cached``)."""

    def __init__(
        self, static: Mapping[str, Issuer], make: Callable[[Issuer], Provider], max_cached: int
    ) -> None:
        self._static_urls = frozenset(static)
        self._make = make
        self._max_cached = max_cached
        self._static: dict[str, Provider] = {}
        self._derived: OrderedDict[str, Provider] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, issuer: Issuer) -> Provider:
        with self._lock:
            if issuer.url in self._static_urls:
                provider = self._static.get(issuer.url)
                if provider is None:
                    provider = self._static[issuer.url] = self._make(issuer)
                return provider
            provider = self._derived.get(issuer.url)
            if provider is not None:
                self._derived.move_to_end(issuer.url)
                return provider
            provider = self._derived[issuer.url] = self._make(issuer)
            while len(self._derived) > self._max_cached:
                self._derived.popitem(last=False)
            return provider
