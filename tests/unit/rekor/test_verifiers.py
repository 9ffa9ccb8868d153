"""``load_verifier`` refuses certificates cryptography cannot read with a ``ValidationError``
(each was a 500 before; found by fuzzing): a version-4 certificate, one with a repeated or a
malformed extension (whose SANs Rekor indexes), one with a key of an unknown type."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

from sigstack.protocol.errors import ValidationError
from sigstack.services.rekor.verifiers import DIGEST_ALGORITHMS, check_pair, load_verifier
from tests.support.keys import b64, pem_public
from tests.unit.fuzz import broken, seeds


def _armour(der: bytes) -> str:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem).decode()


def test_a_real_certificate_loads_and_gives_its_sans() -> None:
    verifier = load_verifier(_armour(seeds.certificates()[0]))
    assert verifier.subjects()


@pytest.mark.parametrize(
    "edit",
    [
        broken.bad_version,
        broken.duplicated_extension,
        broken.malformed_extension,
        broken.unknown_key_type,
    ],  # fmt: skip
)
def test_unreadable_certificates_are_refused(edit) -> None:
    with pytest.raises(ValidationError, match="publicKey.content"):
        load_verifier(_armour(edit(seeds.certificates()[0])), "publicKey.content")


# --- keys through the registry (protocol.keys) -------------------------------------------------
# Where this module's old checks disagreed with the v2 log's and Fulcio's, the registry decides:
# a hashedrekord's RSA key must be 2048, 3072 or 4096 bits (Rekor's default client signing
# algorithms; ``key_size >= 2048`` took 2560 or 8192), and a key of a curve outside the registry
# (secp256k1) is refused on load (a DSSE entry took it, with SHA-256).


@pytest.mark.parametrize(
    "key,digest,ok",
    [
        (ec.generate_private_key(ec.SECP256R1()), "sha256", True),
        (ec.generate_private_key(ec.SECP384R1()), "sha384", True),
        (ec.generate_private_key(ec.SECP521R1()), "sha512", True),
        (ec.generate_private_key(ec.SECP384R1()), "sha256", False),
        (ec.generate_private_key(ec.SECP256R1()), "sha512", False),
        (rsa.generate_private_key(65537, 3072), "sha256", True),
        (rsa.generate_private_key(65537, 2560), "sha256", False),
        (ed25519.Ed25519PrivateKey.generate(), "sha512", False),
    ],
    ids=["p256", "p384", "p521", "p384-sha256", "p256-sha512", "rsa3072", "rsa2560", "ed25519"],
)
def test_hashedrekord_key_and_digest_pairs(key: Any, digest: str, ok: bool) -> None:
    verifier = load_verifier(b64(pem_public(key)))
    if ok:
        assert check_pair(verifier.key, digest).registry_name in DIGEST_ALGORITHMS
    else:
        with pytest.raises(ValidationError, match="^entry algorithms are not allowed$"):
            check_pair(verifier.key, digest)


def test_a_digest_signature_verifies_or_is_a_validation_error() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    digest = hashlib.sha384(b"artifact").digest()
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
    verifier = load_verifier(b64(pem_public(key)))
    verifier.verify_digest(signature, digest, "sha384")
    for bad_sig, bad_digest in ((signature[:-1], digest), (signature, digest[:32])):
        with pytest.raises(ValidationError, match="signature does not verify with the given key"):
            verifier.verify_digest(bad_sig, bad_digest, "sha384")


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()], ids=["p384", "p521"])
def test_a_dsse_signature_is_sha256_on_every_curve(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    verifier = load_verifier(b64(pem_public(key)))
    verifier.verify_message(key.sign(b"pae", ec.ECDSA(hashes.SHA256())), b"pae")
    with pytest.raises(ValidationError, match="signature does not verify"):
        verifier.verify_message(key.sign(b"pae", ec.ECDSA(hashes.SHA384())), b"pae")


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP256K1()), rsa.generate_private_key(65537, 1024)],
    ids=["secp256k1", "rsa1024"],
)
def test_keys_outside_the_registry_are_refused_on_load(key: Any) -> None:
    with pytest.raises(ValidationError, match="^entry algorithms are not allowed$"):
        load_verifier(b64(pem_public(key)))
