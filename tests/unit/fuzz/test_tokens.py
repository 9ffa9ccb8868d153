"""Fuzzing identity tokens where they enter sigstack: only ``protocol.errors.Error`` escapes.

Entry points:
- Fulcio: ``tokens.unverified_claims`` (routing), ``TokenVerifier.verify`` against a real OIDC
  issuer on loopback, then ``identity.principal`` and the CA's leaf builder (the claims become
  certificate extensions); and claims signed by the issuer exactly as generated (the issuer is
  trusted, its claims are still outside input: every issuer type of fulcio.md section 4);
- the reading of an outside issuer's documents (Fulcio's and the OIDC issuer's token exchange,
  ``services.runtime``): the JWKS (``issuerkeys._keys``), the discovery document's algorithms
  (``issuerkeys._algorithms``) and ``Cache-Control`` (``issuerfetch.cache_max_age``);
- the OIDC issuer: ``tokens.decode_header`` and ``tokens.verify`` of its own RS256 and ES256
  tokens.
Seeds: one valid token per Fulcio issuer type (``stack.tokens``), the test issuer's JWKS and
discovery document, and the issuer's own tokens.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sigstack.protocol import strictjson
from sigstack.services.fulcio import tokens as fulcio_tokens
from sigstack.services.fulcio.identity import principal
from sigstack.services.keys import load_signer
from sigstack.services.oidc import tokens
from sigstack.services.runtime import issuerfetch, issuerkeys

from . import stack
from .core import Target, property_tests, text

AUDIENCE = "sigstack-fuzz"


def _fulcio_verify(data: bytes) -> None:
    fulcio = stack.fulcio()
    issuer, claims = fulcio.verifier.verify(text(data))
    who = principal(issuer, claims)
    fulcio.ca.leaf_builder(who, ec.generate_private_key(ec.SECP256R1()).public_key())


@functools.cache
def claim_seeds() -> list[bytes]:
    base = {"aud": "sigstore", "iat": 1700000000, "exp": 4102444800}
    return [json.dumps({**base, **c}).encode() for c in stack.claim_sets()]


def _signed_claims(data: bytes) -> None:
    """``data`` signed by the trusted issuer; ``iss`` made absolute when it is a path."""
    try:
        claims: Any = json.loads(data)
    except (ValueError, RecursionError):
        claims = None
    if isinstance(claims, dict) and isinstance(claims.get("iss"), str):
        if claims["iss"].startswith("/") or not claims["iss"]:
            claims["iss"] = stack.issuer().url + claims["iss"]
            data = json.dumps(claims).encode("utf-8", "surrogatepass")
    token = stack.issuer().raw_token(data)
    _fulcio_verify(token.encode())


@functools.cache
def _own() -> tuple[dict[str, Any], list[bytes]]:
    keys: dict[str, Any] = {}
    seeds = []
    for alg, uri in (("RS256", "ephemeral:rsa-2048"), ("ES256", "ephemeral:ecdsa-p256")):
        signer = load_signer(uri)
        kid = tokens.public_jwk(signer.public_key, alg)["kid"]
        keys[kid] = (signer.public_key, alg)
        claims = {"iss": "https://oidc.test", "aud": AUDIENCE, "sub": "a", "iat": 1700000000,
                  "exp": 4102444800, "email": "a@example.com"}  # fmt: skip
        seeds.append(tokens.encode(claims, signer, kid, alg).encode())
    assert isinstance(keys[next(iter(keys))][0], rsa.RSAPublicKey)
    return keys, seeds


def own_seeds() -> list[bytes]:
    return _own()[1]


def _own_verify(data: bytes) -> None:
    token = text(data)
    tokens.decode_header(token)
    tokens.verify(token, _own()[0], issuer="https://oidc.test", audiences=[AUDIENCE],
                  now=int(time.time()))  # fmt: skip


def jwks_seeds() -> list[bytes]:
    return [json.dumps(stack.issuer().jwks()).encode()]


def discovery_seeds() -> list[bytes]:
    url = stack.issuer().url
    return [json.dumps({"issuer": url, "jwks_uri": url + "/jwks",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"]}).encode()]  # fmt: skip


def _jwks(data: bytes) -> None:
    issuerkeys._keys(strictjson.loads(data, "JWKS"), "https://issuer.test")


def _discovery(data: bytes) -> None:
    issuerkeys._algorithms(strictjson.loads_object(data, "discovery"), "https://issuer.test")


TARGETS = [
    Target(
        "fulcio: unverified_claims",
        lambda d: fulcio_tokens.unverified_claims(text(d)),
        lambda: [t.encode() for t in stack.tokens()],
    ),  # fmt: skip
    Target(
        "fulcio: verify -> principal", _fulcio_verify, lambda: [t.encode() for t in stack.tokens()]
    ),  # fmt: skip
    Target("fulcio: signed claims -> principal", _signed_claims, claim_seeds),
    Target("oidc: decode_header + verify", _own_verify, own_seeds),
    Target("issuer keys: JWKS", _jwks, jwks_seeds),
    Target("issuer keys: discovery algorithms", _discovery, discovery_seeds),
    Target(
        "issuer fetch: Cache-Control",
        lambda d: issuerfetch.cache_max_age(text(d)),
        lambda: [b"public, max-age=300", b"no-cache", b'max-age="60", no-store'],
    ),  # fmt: skip
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
