"""How long Fulcio trusts an issuer's keys (security review, issue 11, item 1).

Fulcio used to cache an issuer's JWKS for the life of the process, refetching only for an unknown
``kid``: a key the issuer had removed kept verifying tokens. Now discovery and JWKS expire after
their ``Cache-Control: max-age``, capped at ``oidc_cache_max_age`` (300 s), 60 s when the header is
absent, never less than a second; a refetch that fails after expiry refuses tokens (fail closed).

These tests drive ``TokenVerifier`` against a real discovery/JWKS server on 127.0.0.1 with a fake
monotonic clock, so expiry is exact and no test sleeps for minutes; one test goes through the app
with the configuration key and a real clock. The end-to-end case with a real sigstack OIDC issuer
(``rotate-key`` then delete) is tests/integration/fulcio/test_issuer_key_rotation.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig, parse_identity_config
from sigstack.services.fulcio.tokens import TokenVerifier
from tests.support.clock import Clock
from tests.support.fulcio import refused, v2_csr_body
from tests.support.keys import csr_pem, new_key
from tests.support.oidc import OIDCIssuer


@pytest.fixture()
def idp() -> Iterator[OIDCIssuer]:
    oidc = OIDCIssuer(("RS256",))
    yield oidc
    oidc.close()


def _verifier(idp: OIDCIssuer, clock: Clock[float], **kw: Any) -> TokenVerifier:
    identity = parse_identity_config({"OIDCIssuers": {idp.url: {"Type": "email"}}})
    return TokenVerifier(identity, monotonic=clock, **kw)


def _rotate(idp: OIDCIssuer) -> tuple[str, str]:
    """A token from the current key; then a new key is added and the old one removed."""
    old = idp.kid_for("RS256")
    token = idp.email_token(kid=old)
    idp.add_key("RS256")
    return token, old


@pytest.mark.parametrize(
    ("cache_control", "max_age", "bound"),
    [("public, max-age=120, must-revalidate", 300.0, 120.0),  # honoured
     ("max-age=86400", 300.0, 300.0),  # capped
     (None, 300.0, 60.0),  # absent: the default
     ("max-age=86400", 30.0, 30.0),  # the cap is configurable
     ("no-cache", 300.0, 1.0), ("max-age=0", 300.0, 1.0)],  # at least a second
    ids=["honoured", "capped", "absent", "configured-cap", "no-cache", "zero"],
)  # fmt: skip
def test_removed_key_refused_once_the_cached_jwks_expires(
    idp: OIDCIssuer, cache_control: str | None, max_age: float, bound: float
) -> None:
    idp.cache_control = cache_control
    clock = Clock(1000.0)
    verifier = _verifier(idp, clock, max_age=max_age)
    token, old = _rotate(idp)
    verifier.verify(token)
    idp.remove_key(old)
    clock.advance(bound - 0.01)
    verifier.verify(token)  # still within the documented bound: the cached keys are used
    assert idp.hits["jwks"] == 1
    clock.advance(0.02)
    with pytest.raises(ValidationError):
        verifier.verify(token)
    assert idp.hits["jwks"] == 2


def test_new_algorithm_seen_once_discovery_is_refreshed(idp: OIDCIssuer) -> None:
    """A rotation to another algorithm (sigstack's ``rotate-key --alg ES256``) changes discovery's
    algorithm list: Fulcio must not keep the list it read at start."""
    clock = Clock(1000.0)
    verifier = _verifier(idp, clock)
    verifier.verify(idp.email_token())
    idp.algs.append("ES256")
    kid = idp.add_key("ES256")
    clock.advance(1.1)  # the unknown kid refetches (at most once a second)
    issuer, claims = verifier.verify(idp.email_token(alg="ES256", kid=kid))
    assert claims["email"] == "alice@example.com"


def test_failed_refetch_after_expiry_refuses_then_recovers(idp: OIDCIssuer) -> None:
    idp.cache_control = "max-age=10"
    clock = Clock(1000.0)
    verifier = _verifier(idp, clock)
    token = idp.email_token()
    verifier.verify(token)
    idp.jwks_status = 503
    clock.advance(10.01)
    for _ in range(3):  # fail closed; the issuer is asked again at most once a second
        with pytest.raises(ValidationError):
            verifier.verify(token)
    assert idp.hits["jwks"] == 2
    idp.jwks_status = 200
    clock.advance(1.01)
    verifier.verify(token)
    assert idp.hits["jwks"] == 3


def test_unknown_kid_still_refetches_within_the_cache_lifetime(idp: OIDCIssuer) -> None:
    idp.cache_control = "max-age=300"
    clock = Clock(1000.0)
    verifier = _verifier(idp, clock)
    verifier.verify(idp.email_token())
    kid = idp.add_key("RS256")
    with pytest.raises(ValidationError):  # within a second of the last fetch: not yet
        verifier.verify(idp.email_token(kid=kid))
    clock.advance(1.01)
    verifier.verify(idp.email_token(kid=kid))
    unpublished = idp.add_key("RS256", publish=False)
    with pytest.raises(ValidationError):
        verifier.verify(idp.email_token(kid=unpublished))
    assert idp.hits["jwks"] == 2


def _app_with(stack: dict[str, Any], idp: OIDCIssuer, **settings: Any) -> Any:
    config = json.loads(json.dumps(stack["config"]))
    config["OIDCIssuers"] = {idp.url: {"Type": "email"}}
    config["MetaIssuers"] = {}
    config.update(settings)
    return create_app(FulcioConfig.from_mapping(config)).test_client()


def test_cache_bound_from_the_configuration(stack: dict[str, Any], idp: OIDCIssuer) -> None:
    idp.cache_control = "public, max-age=3600"
    client = _app_with(stack, idp, oidc_cache_max_age=1)
    token, old = _rotate(idp)
    body = v2_csr_body(csr_pem(new_key("ec-p256")), token)
    assert client.post("/api/v2/signingCert", json=body).status_code == 200
    idp.remove_key(old)
    time.sleep(1.1)
    refused(client.post("/api/v2/signingCert", json=body), msg.MSG_TOKEN)


@pytest.mark.parametrize("value", [0, -1, 3601, "soon", True, None])
def test_bad_cache_bound_refused_at_start(
    stack: dict[str, Any], idp: OIDCIssuer, value: Any
) -> None:
    with pytest.raises(ConfigError):
        _app_with(stack, idp, oidc_cache_max_age=value)
