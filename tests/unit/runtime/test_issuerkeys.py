"""The outside issuers' key cache and JWS checks shared by Fulcio and the OIDC issuer's token
exchange (``services.runtime.issuerkeys``, ``issuerfetch``; moved from Fulcio in issue 16).

Fulcio's behaviour through them (expiry, fail closed, fetch limits, SIGHUP) stays tested where it
is configured: tests/unit/fulcio/test_issuer_cache.py and test_issuer_fetch.py. Here: the module
on its own, against a real discovery/JWKS server on 127.0.0.1, and the promise its error makes to
every service that uses it (a generic message; the reason only in ``detail``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sigstack.protocol.errors import VerificationError
from sigstack.services.runtime.issuerfetch import IssuerError, cache_max_age
from sigstack.services.runtime.issuerkeys import (
    Provider,
    Providers,
    jws_header,
    numeric_date,
    unverified_claims,
    verify_signature,
)
from tests.support.clock import Clock
from tests.support.oidc import OIDCIssuer


@pytest.fixture()
def idp() -> Iterator[OIDCIssuer]:
    oidc = OIDCIssuer(("RS256", "ES256", "EdDSA"))
    yield oidc
    oidc.close()


def test_cache_control_with_unicode_digits() -> None:
    """``max-age=²`` passes ``str.isdigit`` but is no number: a ValueError before (found by
    fuzzing); a max-age that cannot be read means no caching."""
    assert cache_max_age("max-age=²") == 0.0
    assert cache_max_age("max-age=٣") == 0.0
    assert cache_max_age("public, max-age=300") == 300.0


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_a_token_of_the_issuer_verifies(idp: OIDCIssuer, alg: str) -> None:
    token = idp.token(alg=alg, aud="anything")
    verify_signature(token, Provider(idp.url))
    assert unverified_claims(token)["iss"] == idp.url
    assert jws_header(token)["alg"] == alg


def test_refusals_say_why_only_in_detail(idp: OIDCIssuer) -> None:
    """A service that let the error through unwrapped would still show nothing of the issuer's
    URL or answer: the reason is in ``detail``."""
    other = OIDCIssuer(("RS256",))
    try:
        forged = other.token(iss=idp.url)  # right issuer named, signed by another key
    finally:
        other.close()
    with pytest.raises(IssuerError) as caught:
        verify_signature(forged, Provider(idp.url))
    assert isinstance(caught.value, VerificationError)
    assert caught.value.message == "the token could not be verified"
    assert "no key of the issuer verifies" in caught.value.detail
    assert idp.url not in caught.value.message


@pytest.mark.parametrize(
    ("header", "why"),
    [({"alg": "none"}, "not accepted"), ({"alg": "HS256"}, "not accepted"),
     ({"alg": "RS256", "crit": ["exp"]}, "not supported"),
     ({"alg": "RS256", "b64": False}, "not supported"), ({"alg": "RS256", "kid": 7}, "not a string")],
)  # fmt: skip
def test_headers_refused(idp: OIDCIssuer, header: dict[str, object], why: str) -> None:
    import base64
    import json

    good = idp.token()
    head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    token = head + good[good.index(".") :]
    with pytest.raises(IssuerError, match="could not be verified") as caught:
        verify_signature(token, Provider(idp.url))
    assert why in caught.value.detail


def test_an_unreachable_issuer_fails_closed_and_waits_before_retrying() -> None:
    clock = Clock(100.0)
    down = OIDCIssuer(("RS256",))
    token = down.token()
    provider = Provider(down.url, monotonic=clock, timeout=2.0)
    down.close()
    with pytest.raises(IssuerError) as first:
        verify_signature(token, provider)
    assert "cannot fetch" in first.value.detail
    with pytest.raises(IssuerError) as again:
        verify_signature(token, provider)
    assert "failed recently" in again.value.detail  # not fetched again within the interval


def test_providers_keep_configured_issuers_and_evict_the_others() -> None:
    made: list[str] = []

    def make(url: str) -> Provider:
        made.append(url)
        return Provider(url)

    providers = Providers(["https://kept"], max_cached=1)
    kept = providers.get("https://kept", lambda: make("https://kept"))
    providers.get("https://a", lambda: make("https://a"))
    providers.get("https://b", lambda: make("https://b"))  # evicts a
    assert providers.get("https://kept", lambda: make("https://kept")) is kept
    providers.get("https://a", lambda: make("https://a"))
    assert made == ["https://kept", "https://a", "https://b", "https://a"]


@pytest.mark.parametrize("value", [None, True, "1700000000", float("inf")])
def test_numeric_dates_refused(value: object) -> None:
    with pytest.raises(IssuerError):
        numeric_date({"exp": value}, "exp")
    assert numeric_date({}, "nbf") is None
    with pytest.raises(IssuerError, match="could not be verified"):
        numeric_date({}, "exp", required=True)
