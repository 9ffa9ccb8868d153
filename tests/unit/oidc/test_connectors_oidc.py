"""The OpenID Connect connector on its own (services/oidc/connectors/oidc.py) against a provider
served in a thread (tests/support/upstream.py): discovery and its checks, the authorization URL,
every ID token check, the JWKS kept only as long as allowed, and the claims mapping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sigstack.protocol.errors import ConfigError, UnavailableError, VerificationError
from sigstack.services.oidc.connectors.oidc import OIDCConnector, OIDCOptions, s256
from sigstack.services.oidc.connectors.options import Options
from tests.support.clock import Clock
from tests.support.upstream import CLIENT_ID, UpstreamProvider, connector_config

CALLBACK = "http://127.0.0.1:5556/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[UpstreamProvider]:
    running = UpstreamProvider()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _fresh(provider: UpstreamProvider) -> None:
    provider.reset()
    provider.cache_control = None
    provider.discovery_extra.pop("issuer", None)
    provider.discovery_extra["code_challenge_methods_supported"] = ["S256"]


def make(
    provider: UpstreamProvider, clock: Clock[float] | None = None, **extra: Any
) -> OIDCConnector:
    opts = OIDCOptions.read(Options(connector_config(provider, **extra), "connectors[0]"))
    if clock is None:
        return OIDCConnector("corp", "Corp SSO", opts)
    return OIDCConnector("corp", "Corp SSO", opts, monotonic=clock, refetch_interval=1.0)


def id_token(provider: UpstreamProvider, **claims: Any) -> str:
    merged = {"aud": CLIENT_ID, "nonce": "n-1", **provider.claims, **claims}
    return provider.token(**merged)


def test_start_sends_the_code_flow_with_s256_and_fresh_secrets(provider):
    connector = make(provider)
    first, second = connector.start(CALLBACK), connector.start(CALLBACK)
    query = {k: v[0] for k, v in parse_qs(urlsplit(first.url).query).items()}
    assert first.url.startswith(provider.url + "/authorize?")
    assert query == {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK,
                     "scope": "openid email profile", "state": first.state, "nonce": first.nonce,
                     "code_challenge": s256(first.verifier), "code_challenge_method": "S256"}  # fmt: skip
    assert len({first.state, first.nonce, first.verifier, second.state, second.nonce}) == 5
    assert len(first.verifier) >= 43  # RFC 7636 section 4.1


def test_discovery_of_another_issuer_or_without_s256_is_refused(provider):
    provider.discovery_extra["issuer"] = provider.url + "/other"
    with pytest.raises(UnavailableError, match="cannot be reached"):
        make(provider).start(CALLBACK)
    del provider.discovery_extra["issuer"]
    provider.discovery_extra["code_challenge_methods_supported"] = ["plain"]
    with pytest.raises(UnavailableError):
        make(provider).start(CALLBACK)


def test_the_discovery_document_is_cached(provider):
    clock = Clock(1000.0)
    connector = make(provider, clock)
    before = provider.hits["discovery"]
    connector.start(CALLBACK)
    connector.start(CALLBACK)
    assert provider.hits["discovery"] == before + 1
    clock.advance(301)  # DISCOVERY_MAX_AGE
    connector.start(CALLBACK)
    assert provider.hits["discovery"] == before + 2


def test_a_good_id_token_is_accepted(provider):
    claims = make(provider).verify_id_token(id_token(provider), "n-1")
    assert claims["sub"] == "up-carol-1"


@pytest.mark.parametrize(
    ("claims", "nonce"),
    [
        ({"nonce": "n-2"}, "n-1"),
        ({"aud": "someone-else"}, "n-1"),
        ({"aud": [CLIENT_ID, "other"]}, "n-1"),  # several audiences need azp = us
        ({"iss": "http://127.0.0.1:1"}, "n-1"),
        ({"exp": int(time.time()) - 1}, "n-1"),
        ({"iat": int(time.time()) + 120}, "n-1"),  # beyond CLOCK_SKEW
        ({"nbf": int(time.time()) + 120}, "n-1"),
        ({"exp": "tomorrow"}, "n-1"),
    ],
)
def test_each_id_token_check_refuses(provider, claims, nonce):
    with pytest.raises(VerificationError, match="could not be verified"):
        make(provider).verify_id_token(id_token(provider, **claims), nonce)


def test_several_audiences_with_our_azp_are_accepted(provider):
    token = id_token(provider, aud=[CLIENT_ID, "other"], azp=CLIENT_ID)
    assert make(provider).verify_id_token(token, "n-1")["azp"] == CLIENT_ID


def test_unsigned_and_hmac_tokens_are_refused(provider):
    import jwt

    for token in (jwt.encode({"sub": "x"}, None, algorithm="none"),
                  jwt.encode({"sub": "x", "iss": provider.url}, "secret-of-32-bytes-or-more!!!!!!",
                             algorithm="HS256")):  # fmt: skip
        with pytest.raises(VerificationError):
            make(provider).verify_id_token(token, "n-1")


def test_the_jwks_is_kept_no_longer_than_jwks_max_age(provider):
    """A removed key stops verifying once the keys were fetched again: after ``jwks_max_age``
    even when the provider allows caching longer."""
    provider.cache_control = "max-age=3600"
    clock = Clock(1000.0)
    connector = make(provider, clock, jwks_max_age=60)
    token = id_token(provider)
    before = provider.hits["jwks"]
    connector.verify_id_token(token, "n-1")
    connector.verify_id_token(token, "n-1")
    assert provider.hits["jwks"] == before + 1
    kid = provider.kid_for("RS256")
    new_kid = provider.add_key("RS256")
    provider.remove_key(kid)
    try:
        clock.advance(30)
        connector.verify_id_token(token, "n-1")  # still cached
        clock.advance(31)
        with pytest.raises(VerificationError):
            connector.verify_id_token(token, "n-1")
        assert provider.hits["jwks"] == before + 2
        fresh = provider.token(kid=new_kid, **{"aud": CLIENT_ID, "nonce": "n-1", **provider.claims})
        connector.verify_id_token(fresh, "n-1")
    finally:
        provider.publish_all()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ("carol@corp.example", "carol", ("signers", "staff"))),
        ({"groups": "signers"}, ("carol@corp.example", "carol", ())),  # not a list: no groups
        ({"groups": ["a", 7, "b\x00", "", "c"]}, ("carol@corp.example", "carol", ("a", "c"))),
        ({"preferred_username": None}, ("carol@corp.example", "carol@corp.example", ("signers", "staff"))),
    ],
)  # fmt: skip
def test_claims_mapping(provider, changes, expected):
    claims = {**provider.claims, **changes}
    upstream = make(provider).upstream({k: v for k, v in claims.items() if v is not None})
    assert (upstream.email, upstream.name, upstream.groups) == expected
    assert (upstream.connector, upstream.subject) == ("corp", "up-carol-1")


def test_configured_claim_names(provider):
    upstream = make(provider, groups_claim="roles", username_claim="upn").upstream(
        {**provider.claims, "roles": ["admins"], "upn": "carol@corp"})  # fmt: skip
    assert (upstream.groups, upstream.name) == (("admins",), "carol@corp")


@pytest.mark.parametrize(
    "claims",
    [
        {"email_verified": False},
        {"email_verified": "true"},
        {"email_verified": None},
        {"email": "not-an-address"},
        {"email": None},
        {"sub": ""},
        {"sub": "a\nb"},
    ],
)
def test_unfit_identities_are_refused(provider, claims):
    merged = {k: v for k, v in {**provider.claims, **claims}.items() if v is not None}
    with pytest.raises(VerificationError):
        make(provider).upstream(merged)


def test_the_unverified_email_rule_names_whole_domains(provider):
    connector = make(provider, unverified_email_domains=["corp.example"])
    unverified = {**provider.claims, "email_verified": False}
    assert connector.upstream(unverified).email == "carol@corp.example"
    with pytest.raises(VerificationError):
        connector.upstream({**unverified, "email": "carol@sub.corp.example"})
    with pytest.raises(VerificationError):
        connector.upstream({**unverified, "email": "carol@evilcorp.example"})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"issuer": "ftp://idp.example"}, "issuer"),
        ({"scopes": ["email"]}, "openid"),
        ({"unverified_email_domains": ["*.corp.example"]}, "domains"),
        ({"client_secret_file": "/nonexistent"}, "client_secret"),
        ({"timeout": 0}, "timeout"),
        ({"jwks_max_age": 100000}, "jwks_max_age"),
    ],
)
def test_bad_options_are_refused_by_name(provider, extra, message):
    with pytest.raises(ConfigError, match=message):
        make(provider, **extra)
