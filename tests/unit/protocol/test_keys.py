"""sigstack.protocol.keys against Wycheproof-style cases built here, and its registry.

Built here (a generator in code, as Wycheproof's are): for every algorithm of the registry a valid
signature and its mutants (bit flips, truncation, other encodings, out-of-range values, other
keys, other hashes, non-canonical forms), each of which must be a ``VerificationError`` and
nothing else. The registry is held to the ``PublicKeyDetails`` enum of protobuf-specs'
``sigstore_common.proto``. Outside material (real trusted roots and bundles): test_keys_real.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sigstack.protocol import keys
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.keys import Algorithm
from sigstack.protocol.protojson import strict_b64decode
from sigstack.protocol.trust import TrustedRoot
from tests.support.keys import leaf_certificate
from tests.support.testdata import TESTDATA

DATA = TESTDATA

# --- the registry ----------------------------------------------------------------------------


def _proto_enum(name: str) -> set[str]:
    proto = (DATA / "vectors/protobuf-specs/protos/sigstore_common.proto").read_text()
    body = re.search(rf"enum {name} {{(.*?)}}", proto, re.S)
    assert body is not None
    return set(re.findall(r"^\s*([A-Z0-9_]+) = \d+", body.group(1), re.M))


def test_registry_names_are_protobuf_specs_names() -> None:
    details, digests = _proto_enum("PublicKeyDetails"), _proto_enum("HashAlgorithm")
    assert set(keys.ALGORITHMS) <= details
    assert {n for n in keys.REFUSED if n.isupper()} <= details
    assert {a.proto_hash for a in keys.ALGORITHMS.values() if a.proto_hash} <= digests
    assert not set(keys.ALGORITHMS) & set(keys.REFUSED)


def test_registry_lookups() -> None:
    assert Algorithm.named("ecdsa-sha2-256-nistp256") is keys.ALGORITHMS["PKIX_ECDSA_P256_SHA_256"]
    assert Algorithm.named("rsa-sign-pkcs1-3072-sha256").rsa_bits == 3072
    assert Algorithm.named("PKIX_ED25519").hash is None
    for name in ("PKIX_ED25519_PH", "ed25519-ph", "PKIX_RSA_PSS_2048_SHA256"):
        with pytest.raises(ValidationError, match="is not allowed: "):
            Algorithm.named(name)
    with pytest.raises(ValidationError, match="not a signing algorithm sigstack allows"):
        Algorithm.named("ML_DSA_65")


P256 = ec.derive_private_key(0x5EED, ec.SECP256R1())
P384 = ec.derive_private_key(0x5EED, ec.SECP384R1())
P521 = ec.derive_private_key(0x5EED, ec.SECP521R1())
ED = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RSA2048 = rsa.generate_private_key(65537, 2048)
RSA4096 = rsa.generate_private_key(65537, 4096)


@pytest.mark.parametrize(
    "key,hash_name,want",
    [
        (P256, None, "PKIX_ECDSA_P256_SHA_256"),
        (P384, None, "PKIX_ECDSA_P384_SHA_384"),
        (P521, None, "PKIX_ECDSA_P521_SHA_512"),
        (P384, "sha256", "PKIX_ECDSA_P384_SHA_256"),
        (P521, "sha256", "PKIX_ECDSA_P521_SHA_256"),
        (ED, None, "PKIX_ED25519"),
        (RSA2048, None, "PKIX_RSA_PKCS1V15_2048_SHA256"),
        (RSA4096, "sha256", "PKIX_RSA_PKCS1V15_4096_SHA256"),
    ],
)
def test_algorithm_for_key(key: Any, hash_name: str | None, want: str) -> None:
    assert Algorithm.for_key(key.public_key(), hash_name).name == want


@pytest.mark.parametrize(
    "key,hash_name,reason",
    [
        (P256, "sha384", "does not sign with sha384"),
        (ED, "sha512", "Ed25519ph"),
        (RSA2048, "sha512", "SHA-256 only"),
        (ec.generate_private_key(ec.SECP256K1()), None, "ECDSA secp256k1 keys are not allowed"),
        (ec.generate_private_key(ec.SECP224R1()), None, "ECDSA secp224r1 keys are not allowed"),
        (rsa.generate_private_key(65537, 1024), None, "at least 2048 bits"),
        (ed448.Ed448PrivateKey.generate(), None, "Ed448PublicKey keys are not allowed"),
        (x25519.X25519PrivateKey.generate(), None, "X25519PublicKey keys are not allowed"),
        (dsa.generate_private_key(2048), None, "DSAPublicKey keys are not allowed"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_keys_outside_the_registry(key: Any, hash_name: str | None, reason: str) -> None:
    public = key.public_key()
    with pytest.raises(ValidationError, match=reason):
        Algorithm.for_key(public, hash_name)
    if hash_name is None:
        with pytest.raises(VerificationError, match=reason):
            keys.verify(public, b"sig", b"message")
        with pytest.raises(ValidationError, match=reason):
            keys.load_public_key(keys.spki_der(public))


def test_an_any_size_rsa_key_uses_the_deprecated_entry() -> None:
    key = rsa.generate_private_key(65537, 2560).public_key()
    assert Algorithm.for_key(key).name == "PKIX_RSA_PKCS1V5"
    assert not keys.ALGORITHMS["PKIX_RSA_PKCS1V15_2048_SHA256"].fits(key)


def test_load_public_key_forms() -> None:
    public = P384.public_key()
    assert keys.load_public_key(keys.spki_pem(public)) == public
    assert keys.load_public_key(b"\n  " + keys.spki_pem(public)) == public
    assert keys.load_public_key(keys.spki_der(public)) == public
    pkcs1 = RSA2048.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    assert keys.spki_der(keys.load_public_key(pkcs1)) == keys.spki_der(RSA2048.public_key())
    with pytest.raises(ValidationError, match="the key is not a DER public key"):
        keys.load_public_key(b"\x30\x03\x02\x01\x01", "the key")
    with pytest.raises(ValidationError, match="is not a PEM public key"):
        keys.load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert keys.spki_pem(public).startswith(b"-----BEGIN PUBLIC KEY-----\n")


# --- Wycheproof-style cases ---------------------------------------------------------------------

MESSAGE = b"sigstack keys: the message"


def _sign(private: Any, alg: Algorithm, message: bytes = MESSAGE) -> bytes:
    digest = alg.hash_algorithm()
    if alg.family == keys.ED25519:
        return bytes(private.sign(message))
    if alg.family == keys.ECDSA:
        return bytes(private.sign(message, ec.ECDSA(digest)))
    return bytes(private.sign(message, padding.PKCS1v15(), digest))


SIGNERS = [
    (P256, "PKIX_ECDSA_P256_SHA_256"),
    (P384, "PKIX_ECDSA_P384_SHA_384"),
    (P521, "PKIX_ECDSA_P521_SHA_512"),
    (P384, "PKIX_ECDSA_P384_SHA_256"),
    (P521, "PKIX_ECDSA_P521_SHA_256"),
    (ED, "PKIX_ED25519"),
    (RSA2048, "PKIX_RSA_PKCS1V15_2048_SHA256"),
    (RSA4096, "PKIX_RSA_PKCS1V15_4096_SHA256"),
    (RSA2048, "PKIX_RSA_PKCS1V5"),
    (RSA4096, "PKCS1_RSA_PKCS1V5"),
]


def _mutants(private: Any, alg: Algorithm, good: bytes) -> dict[str, bytes]:
    out = {
        "empty": b"",
        "one byte": good[:1],
        "truncated": good[:-1],
        "appended zero": good + b"\0",
        "prepended zero": b"\0" + good,
        "first bit": bytes([good[0] ^ 0x01]) + good[1:],
        "last bit": good[:-1] + bytes([good[-1] ^ 0x80]),
        "all zero": bytes(len(good)),
        "all ones": b"\xff" * len(good),
        "doubled": good + good,
    }
    if alg.family == keys.ECDSA:
        r, s = decode_dss_signature(good)
        order = _ORDERS[alg.curve or ""]
        size = (private.curve.key_size + 7) // 8
        out |= {
            "raw r||s": r.to_bytes(size, "big") + s.to_bytes(size, "big"),
            "r = 0": encode_dss_signature(0, s),
            "s = 0": encode_dss_signature(r, 0),
            "r = n": encode_dss_signature(order, s),
            "s = n": encode_dss_signature(r, order),
            "r + n": encode_dss_signature(r + order, s),
            "swapped r, s": encode_dss_signature(s, r),
            "BER long length": bytes([0x30, 0x81, good[1]]) + good[2:]
            if good[1] < 0x80
            else good[:1] + b"\x82\x00" + good[2:],
            "trailing garbage in DER": good[:1] + bytes([good[1] + 2]) + good[2:] + b"\x05\x00",
        }
    elif alg.family == keys.ED25519:
        ell = 2**252 + 27742317777372353535851937790883648493
        s_value = int.from_bytes(good[32:], "little")
        out["S + L (non-canonical)"] = good[:32] + (s_value + ell).to_bytes(32, "little")
    else:
        modulus = private.public_key().public_numbers().n
        value = int.from_bytes(good, "big")
        out["s + n"] = (value + modulus).to_bytes(len(good) + 1, "big")
        out["s = n"] = modulus.to_bytes(len(good), "big")
    return out


_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


@pytest.mark.parametrize("private,name", SIGNERS, ids=[n for _, n in SIGNERS])
def test_valid_signatures_verify(private: Any, name: str) -> None:
    alg = Algorithm.named(name)
    good = _sign(private, alg)
    keys.verify(private.public_key(), good, MESSAGE, alg)
    keys.verify(private.public_key(), good, MESSAGE, name)
    if not alg.deprecated:
        keys.verify(private.public_key(), good, MESSAGE)  # the key's usual algorithm
    digest = alg.hash_algorithm()
    if digest is not None:
        prehashed = hashes.Hash(digest)
        prehashed.update(MESSAGE)
        keys.verify(private.public_key(), good, prehashed.finalize(), alg, prehashed=True)
    else:
        with pytest.raises(VerificationError, match="Ed25519 signs whole messages"):
            keys.verify(private.public_key(), good, hashlib.sha512(MESSAGE).digest(), alg,
                        prehashed=True)  # fmt: skip


@pytest.mark.parametrize("private,name", SIGNERS, ids=[n for _, n in SIGNERS])
def test_mutated_signatures_are_verification_errors(private: Any, name: str) -> None:
    alg = Algorithm.named(name)
    good = _sign(private, alg)
    for what, bad in _mutants(private, alg, good).items():
        with pytest.raises(VerificationError, match=re.escape(alg.describe())) as info:
            keys.verify(private.public_key(), bad, MESSAGE, alg)
        assert info.value.__cause__ is None, what  # no foreign exception behind it
    for other in (b"", MESSAGE[:-1], MESSAGE + b"\0", b"another message"):
        with pytest.raises(VerificationError, match="does not verify"):
            keys.verify(private.public_key(), good, other, alg)


def test_ecdsa_high_s_is_accepted_as_go_accepts_it() -> None:
    """ECDSA is malleable: (r, n - s) verifies too. Go's crypto/ecdsa and OpenSSL accept it, and
    so do Sigstore's verifiers; recorded here so that a change of that is a decision."""
    alg = keys.ALGORITHMS["PKIX_ECDSA_P256_SHA_256"]
    r, s = decode_dss_signature(_sign(P256, alg))
    keys.verify(P256.public_key(), encode_dss_signature(r, _ORDERS["secp256r1"] - s), MESSAGE, alg)


@pytest.mark.parametrize(
    "private,name,reason",
    [
        (
            P256,
            "PKIX_ECDSA_P384_SHA_384",
            "names an ECDSA P-384 with SHA-384 key; this key is ECDSA P-256",
        ),
        (P384, "PKIX_ED25519", "names an Ed25519 key; this key is ECDSA P-384"),
        (ED, "PKIX_ECDSA_P256_SHA_256", "this key is Ed25519"),
        (RSA2048, "PKIX_RSA_PKCS1V15_4096_SHA256", "this key is RSA-2048"),
        (RSA4096, "PKIX_ECDSA_P521_SHA_512", "this key is RSA-4096"),
    ],
)
def test_an_algorithm_that_does_not_fit_the_key(private: Any, name: str, reason: str) -> None:
    good = _sign(private, Algorithm.for_key(private.public_key()))
    with pytest.raises(VerificationError, match=reason):
        keys.verify(private.public_key(), good, MESSAGE, name)


def test_the_hash_is_the_algorithms() -> None:
    """A P-384 signature over SHA-256 verifies as PKIX_ECDSA_P384_SHA_256 only."""
    good = P384.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    keys.verify(P384.public_key(), good, MESSAGE, "PKIX_ECDSA_P384_SHA_256")
    with pytest.raises(VerificationError, match="does not verify"):
        keys.verify(P384.public_key(), good, MESSAGE)
    digest = hashlib.sha256(MESSAGE).digest()
    prehashed = P384.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    keys.verify(P384.public_key(), prehashed, digest, "ecdsa-sha2-256-nistp384", prehashed=True)


@pytest.mark.parametrize("name", ["PKIX_ED25519_PH", "PKIX_RSA_PSS_2048_SHA256", "nonsense"])
def test_refused_and_unknown_names_are_verification_errors(name: str) -> None:
    with pytest.raises(VerificationError, match="not allowed|not a signing algorithm"):
        keys.verify(ED.public_key(), _sign(ED, keys.ALGORITHMS["PKIX_ED25519"]), MESSAGE, name)


def test_not_a_key_is_a_verification_error() -> None:
    with pytest.raises(VerificationError, match="str keys are not allowed"):
        keys.verify("a key", b"sig", MESSAGE)
    with pytest.raises(VerificationError, match="this key is Certificate"):
        root = TrustedRoot.from_file(str(DATA / "pyassets/trust/production/trusted_root.json"))
        cert = x509.load_der_x509_certificate(root.certificate_authorities[0].cert_chain[0])
        keys.verify(cert, b"sig", MESSAGE, "PKIX_ECDSA_P256_SHA_256")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(SIGNERS))
def test_random_signatures_are_verification_errors(blob: bytes, signer: tuple[Any, str]) -> None:
    private, name = signer
    with pytest.raises(VerificationError):
        keys.verify(private.public_key(), blob, MESSAGE, name)


# --- strict base64 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,canonical,error",
    [
        ("AAEC", False, None),
        ("", False, None),
        ("AAE=", False, None),
        ("AAF=", False, None),  # set trailing bits: Go's StdEncoding takes it
        ("AAF=", True, "is not canonical base64"),
        ("AAE", False, "is not valid base64"),  # padding is required
        ("AA-_", False, "is not valid base64"),  # no URL-safe alphabet
        ("AA EC", False, "is not valid base64"),
        ("AAEC\n", False, "is not valid base64"),
        ("A===", False, "is not valid base64"),
        (b"AAEC", False, "must be a base64 string"),
        (None, False, "must be a base64 string"),
    ],
)
def test_strict_b64decode(text: Any, canonical: bool, error: str | None) -> None:
    if error is None:
        assert strict_b64decode(text, "x", canonical=canonical) == base64.b64decode(text)
    else:
        with pytest.raises(ValidationError, match=f"^x {error}"):
            strict_b64decode(text, "x", canonical=canonical)


def _with_unreadable_issuer(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with the string tag of its issuer's common name made BOOLEAN (0x01): the DER
    still frames, so cryptography loads it, and only reading ``issuer`` fails."""
    der = cert.public_bytes(serialization.Encoding.DER)
    name = cert.issuer.public_bytes()
    value = name.index(b"test") - 2  # the value's tag, then its one-byte length
    broken = name[:value] + b"\x01" + name[value + 1 :]
    return x509.load_der_x509_certificate(der.replace(name, broken, 1))


def test_a_certificate_whose_issuer_name_does_not_parse_is_refused() -> None:
    """Found by the certificate fuzzing (tests/unit/fuzz/test_certs.py, the CT log's add_chain):
    cryptography reads names on first use, so comparing them raised ValueError past the caller's
    VerificationError handling."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = leaf_certificate(key, [x509.RFC822Name("a@example.com")])
    broken = _with_unreadable_issuer(cert)
    with pytest.raises(ValueError):
        _ = broken.issuer
    with pytest.raises(VerificationError, match="cannot be read"):
        keys.verify_issued_by(broken, cert)
