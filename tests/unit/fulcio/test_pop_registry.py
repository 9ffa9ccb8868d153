"""Fulcio's proof of possession and allow-list speak the algorithm registry (``protocol.keys``):
its configurable names are registry names, the hash it implies for a key is the registry's, and a
proof verifies exactly when ``keys.verify`` accepts it (ECDSA also as raw r||s, as upstream)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sigstack.protocol import keys
from sigstack.protocol.errors import ValidationError
from sigstack.services.fulcio import pop

NAME = "alice@example.com"


def test_every_configurable_name_is_a_registry_name() -> None:
    assert set(pop.KNOWN_ALGORITHMS) <= set(keys.BY_REGISTRY_NAME)
    assert set(pop.DEFAULT_ALGORITHMS) <= set(pop.KNOWN_ALGORITHMS)
    assert not any(keys.BY_REGISTRY_NAME[n].deprecated for n in pop.DEFAULT_ALGORITHMS)


KEYS = [
    ec.generate_private_key(ec.SECP256R1()),
    ec.generate_private_key(ec.SECP384R1()),
    ec.generate_private_key(ec.SECP521R1()),
    rsa.generate_private_key(65537, 2048),
    ed25519.Ed25519PrivateKey.generate(),
]


@pytest.mark.parametrize("private", KEYS, ids=["p256", "p384", "p521", "rsa2048", "ed25519"])
def test_a_proof_verifies_as_the_registry_says(private: Any) -> None:
    public = private.public_key()
    algorithm = keys.Algorithm.for_key(public)
    assert pop.default_hash(public) == algorithm.hash
    assert pop.algorithm_name(public, algorithm.hash) == algorithm.registry_name
    digest = algorithm.hash_algorithm()
    message = NAME.encode()
    if isinstance(private, ed25519.Ed25519PrivateKey):
        proof = private.sign(message)
    elif isinstance(private, rsa.RSAPrivateKey):
        proof = private.sign(message, padding.PKCS1v15(), digest)
    else:
        proof = private.sign(message, ec.ECDSA(digest))
    keys.verify(public, proof, message)
    pop.verify_proof(public, proof, NAME)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(proof)
        size = (private.curve.key_size + 7) // 8
        pop.verify_proof(public, r.to_bytes(size, "big") + s.to_bytes(size, "big"), NAME)
    with pytest.raises(ValidationError):
        pop.verify_proof(public, proof, NAME + "x")


def test_a_p384_proof_over_sha256_is_refused() -> None:
    """The public-key path implies the key's usual hash; another hash is not a proof."""
    private = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValidationError):
        pop.verify_proof(private.public_key(), private.sign(b"x", ec.ECDSA(hashes.SHA256())), "x")


@pytest.mark.parametrize(
    "public,hash_name",
    [
        (ec.generate_private_key(ec.SECP256R1()).public_key(), "sha384"),
        (rsa.generate_private_key(65537, 2048).public_key(), "sha512"),
        (rsa.generate_private_key(65537, 2560).public_key(), "sha256"),
    ],
    ids=["p256-sha384", "rsa-sha512", "rsa2560"],
)
def test_pairs_outside_the_registry_are_not_permitted(public: Any, hash_name: str) -> None:
    assert pop.algorithm_name(public, hash_name) is None
    with pytest.raises(ValidationError):
        pop.check_allowed(public, hash_name, pop.KNOWN_ALGORITHMS)
