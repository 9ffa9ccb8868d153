"""Bounds on what fetching an issuer's discovery document and JWKS may cost (security review,
issue 11, item 3): a response size cap, a deadline per refresh that a slow-drip server cannot
stretch, a bounded wait for another request's fetch of the same issuer, and a bounded cache of
meta-issuer-derived issuers that never evicts a configured issuer.

The issuers are real HTTP servers on 127.0.0.1 (tests/support/oidc.py) that can answer
slowly, in a trickle, or with megabytes of padding.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sigstack.protocol.errors import ValidationError
from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig, parse_identity_config
from sigstack.services.fulcio.tokens import TokenVerifier
from tests.support.fulcio import refused, v2_csr_body
from tests.support.keys import csr_pem, new_key
from tests.support.oidc import OIDCIssuer


@pytest.fixture()
def idp() -> Iterator[OIDCIssuer]:
    oidc = OIDCIssuer(("RS256",))
    yield oidc
    oidc.close()


def _verifier(idp: OIDCIssuer, metas: dict[str, Any] | None = None, **kw: Any) -> TokenVerifier:
    identity = parse_identity_config(
        {"OIDCIssuers": {idp.url: {"Type": "email"}}, "MetaIssuers": metas or {}}
    )
    return TokenVerifier(identity, **kw)


@pytest.mark.parametrize("drip", [0.0, 0.1], ids=["with-length", "chunked"])
def test_oversized_jwks_refused(idp: OIDCIssuer, drip: float) -> None:
    idp.jwks_padding = 2 << 20  # valid JSON, 2 MiB of trailing whitespace
    idp.jwks_drip = drip
    with pytest.raises(ValidationError):
        _verifier(idp).verify(idp.email_token())


def test_size_cap_is_a_cap_not_a_guess(idp: OIDCIssuer) -> None:
    idp.jwks_padding = 100_000
    _verifier(idp, max_bytes=200_000).verify(idp.email_token())
    idp.jwks_padding = 300_000
    with pytest.raises(ValidationError):
        _verifier(idp, max_bytes=200_000).verify(idp.email_token())


def test_slow_drip_jwks_abandoned_at_the_fetch_timeout(idp: OIDCIssuer) -> None:
    """A byte every 50 ms never trips a per-read timeout; the refresh deadline still ends it."""
    idp.jwks_drip = 5.0
    start = time.monotonic()
    with pytest.raises(ValidationError):
        _verifier(idp, timeout=0.5).verify(idp.email_token())
    assert time.monotonic() - start < 2.0


def test_stalled_jwks_abandoned_at_the_fetch_timeout(idp: OIDCIssuer) -> None:
    idp.jwks_delay = 3.0
    start = time.monotonic()
    with pytest.raises(ValidationError):
        _verifier(idp, timeout=0.5).verify(idp.email_token())
    assert time.monotonic() - start < 2.0


def test_fetch_timeout_from_the_configuration(stack: dict[str, Any], idp: OIDCIssuer) -> None:
    config = json.loads(json.dumps(stack["config"]))
    config.update(OIDCIssuers={idp.url: {"Type": "email"}}, MetaIssuers={}, oidc_fetch_timeout=0.5)
    client = create_app(FulcioConfig.from_mapping(config)).test_client()
    idp.jwks_drip = 5.0
    start = time.monotonic()
    body = v2_csr_body(csr_pem(new_key("ec-p256")), idp.email_token())
    refused(client.post("/api/v2/signingCert", json=body), msg.MSG_TOKEN)
    assert time.monotonic() - start < 2.0


def test_no_long_wait_behind_another_requests_fetch(idp: OIDCIssuer) -> None:
    """While one request fetches a slow issuer's keys, another request for that issuer waits at
    most ``lock_wait`` and is refused; a request for another issuer does not wait at all."""
    other = OIDCIssuer(("RS256",))
    try:
        identity = parse_identity_config(
            {"OIDCIssuers": {idp.url: {"Type": "email"}, other.url: {"Type": "email"}}}
        )
        verifier = TokenVerifier(identity, timeout=5.0, lock_wait=0.3)
        idp.jwks_delay = 2.0
        first: dict[str, Any] = {}

        def slow() -> None:
            try:
                first["result"] = verifier.verify(idp.email_token())
            except ValidationError as exc:
                first["result"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)  # the first request now holds the issuer's fetch
        start = time.monotonic()
        verifier.verify(other.email_token())
        with pytest.raises(ValidationError):
            verifier.verify(idp.email_token())
        assert time.monotonic() - start < 1.2
        thread.join(10)
        assert isinstance(first["result"], tuple), first["result"]  # the fetch itself completed
        verifier.verify(idp.email_token())  # and its keys now serve everyone
    finally:
        other.close()


def test_meta_issuers_never_evict_configured_issuers(idp: OIDCIssuer) -> None:
    verifier = _verifier(idp, {idp.url + "/meta/*": {"Type": "email"}}, max_cached=2)
    verifier.verify(idp.email_token())
    assert idp.hits["discovery"] == 1
    for name in ("a", "b", "c", "d", "e"):
        verifier.verify(idp.email_token(iss=f"/meta/{name}"))
    assert idp.hits["discovery"] == 6
    verifier.verify(idp.email_token())  # the configured issuer is still cached
    assert idp.hits["discovery"] == 6
    verifier.verify(idp.email_token(iss="/meta/e"))  # so are the two most recent meta issuers
    verifier.verify(idp.email_token(iss="/meta/d"))
    assert idp.hits["discovery"] == 6
    verifier.verify(idp.email_token(iss="/meta/a"))  # an older one was evicted
    assert idp.hits["discovery"] == 7


class _TricklingHeaders:
    """A TCP server on 127.0.0.1 that answers every connection with a status line and then one
    header byte every 50 ms for ``seconds``, then closes without ending the headers."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                end = time.monotonic() + self.seconds
                while not self.stop.wait(0.05) and time.monotonic() < end:
                    conn.sendall(b"a")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_trickled_headers_do_not_hold_requests(idp: OIDCIssuer) -> None:
    """Headers that trickle in are bounded by no per-read timeout; the request still returns after
    the fetch deadline (0.5 s + 0.5 s grace), later ones wait at most ``lock_wait`` (by default the
    same 0.5 s) while that fetch lingers, and no second fetch is started meanwhile."""
    slow = _TricklingHeaders(seconds=6.0)
    try:
        identity = parse_identity_config({"OIDCIssuers": {slow.url: {"Type": "email"}}})
        verifier = TokenVerifier(identity, timeout=0.5)
        token = idp.email_token(iss=slow.url)
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(ValidationError):
                verifier.verify(token)
            assert time.monotonic() - start < 1.5
        assert slow.connections == 1
    finally:
        slow.close()


def test_jwk_whose_kty_is_not_a_string_is_skipped(idp: OIDCIssuer) -> None:
    """``"kty": [...]`` was a TypeError (unhashable) out of the JWKS reader (found by fuzzing);
    such a key is skipped like any key of an unknown type, and the others still verify."""
    good = idp.jwks()["keys"]
    idp.jwks_document = {"keys": [{"kty": ["RSA"], "kid": "x"}, {"kty": {"a": 1}}, *good]}
    _verifier(idp).verify(idp.email_token())
