"""sigstack.protocol.keys against outside material and Wycheproof-style cases built here.

Outside: the log and CT log IDs of the real trusted roots (public-good, staging, a rekor-tiles
test root), the signatures, SETs, SCTs, checkpoints and certificate chains of the real bundles in
tests/data, and the ``PublicKeyDetails`` enum of protobuf-specs' ``sigstore_common.proto``.
Built here (a generator in code, as Wycheproof's are): for every algorithm of the registry a valid
signature and its mutants (bit flips, truncation, other encodings, out-of-range values, other
keys, other hashes, non-canonical forms), each of which must be a ``VerificationError`` and
nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
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

from sigstack.protocol import keys, note, rekor, sct
from sigstack.protocol.bundle import Bundle, pae
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.keys import Algorithm
from sigstack.protocol.protojson import strict_b64decode
from sigstack.protocol.trust import TrustedRoot
from tests.support.testdata import TESTDATA

DATA = TESTDATA
CASES = DATA / "pyassets" / "cases"
ROOTS = {
    "production": DATA / "pyassets/trust/production/trusted_root.json",
    "staging": DATA / "pyassets/trust/staging/trusted_root.json",
    "rekor-tiles": DATA / "pyassets/test-assets/trusted_root/"
    "trustedroot.v1.local_tlog_ed25519_rekor-tiles.json",
}
HAPPY = [
    "staging-v0.1-happy-path",
    "staging-v0.3-happy-path",
    "staging-v0.3-alt-mediatype",
    "staging-rekor-v2-happy-path",
    "staging-rekor-v2-dsse-happy-path",
    "staging-tsa-happy-path",
    "production-v0.2-github-actions-wheel",
]


def _logs(name: str) -> list[tuple[str, Any]]:
    root = TrustedRoot.from_file(str(ROOTS[name]))
    return [("tlog", t) for t in root.tlogs] + [("ctlog", t) for t in root.ctlogs]


# --- key IDs against the real trusted roots -----------------------------------------------------


@pytest.mark.parametrize(
    "kind,log",
    [(k, log) for name in ROOTS for k, log in _logs(name)],
    ids=lambda v: v if isinstance(v, str) else v.base_url,
)
def test_log_ids_of_the_real_trusted_roots(kind: str, log: Any) -> None:
    """Every log of the real roots is named by ``keys.key_id`` of its key (Rekor v1, every CT
    log, the rekor-tiles test log) or, for a Rekor v2 log, by the signed-note key ID under its
    origin; the deprecated PKCS1_RSA_PKCS1V5 CT key is PKCS#1 DER, and its ID is still that of
    its SubjectPublicKeyInfo."""
    key = keys.load_public_key(log.public_key.raw_bytes)
    details = log.public_key.key_details
    assert Algorithm.named(details).fits(key)
    if details == "PKCS1_RSA_PKCS1V5":
        assert keys.spki_der(key) != log.public_key.raw_bytes
    else:
        assert keys.spki_der(key) == log.public_key.raw_bytes
    origin = log.base_url.split("://", 1)[1]
    if log.log_id == keys.key_id(key):
        assert kind == "ctlog" or details != "PKIX_ED25519" or "localhost" in origin
    else:
        assert kind == "tlog" and details == "PKIX_ED25519"
        assert note.note_key_digest(origin, key) == log.log_id


def test_sct_log_id_is_key_id() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert sct.log_id(key) == keys.key_id(key) == hashlib.sha256(keys.spki_der(key)).digest()


# --- verification against the real bundles --------------------------------------------------------


def _case(name: str) -> tuple[Bundle, TrustedRoot, Path]:
    folder = CASES / name
    bundle = Bundle.from_json((folder / "bundle.sigstore.json").read_bytes())
    return bundle, TrustedRoot.from_file(str(folder / "trusted_root.json")), folder


def _key_named(logs: Any, key_id: bytes) -> keys.PublicKey:
    for log in logs:
        key = keys.load_public_key(log.public_key.raw_bytes)
        if key_id in (log.log_id, keys.key_id(key)):
            return key
    raise AssertionError(f"no key {key_id.hex()}")


@pytest.mark.parametrize("name", HAPPY)
def test_real_signatures_verify(name: str) -> None:
    bundle, _, folder = _case(name)
    leaf = x509.load_der_x509_certificate(bundle.verification_material.leaf_certificate or b"")
    key = leaf.public_key()
    ms = bundle.message_signature
    if ms is not None:
        artifact = folder / "artifact"
        if artifact.exists():
            digest = hashlib.sha256(artifact.read_bytes()).digest()
        else:
            digest = bytes.fromhex((folder / "digest").read_text().strip().split(":")[1])
        # the digest's hash with the leaf's key: staging-v0.1 is a P-384 key over SHA-256
        alg = Algorithm.for_key(key, "sha256")
        keys.verify(key, ms.signature, digest, alg, prehashed=True)
        with pytest.raises(VerificationError, match="does not verify"):
            keys.verify(key, ms.signature, bytes(32), alg, prehashed=True)
        with pytest.raises(VerificationError, match="32-byte digest"):
            keys.verify(key, ms.signature, digest[:20], alg, prehashed=True)
    else:
        env = bundle.dsse_envelope
        assert env is not None
        keys.verify(key, env.signatures[0].sig, pae(env.payload_type, env.payload))
        with pytest.raises(VerificationError):
            keys.verify(key, env.signatures[0].sig, pae(env.payload_type, env.payload + b" "))


@pytest.mark.parametrize("name", [n for n in HAPPY if "rekor-v2" not in n])  # v2: no SET
def test_real_sets_verify(name: str) -> None:
    bundle, root, _ = _case(name)
    entry = bundle.verification_material.tlog_entries[0]
    assert entry.inclusion_promise
    payload = rekor.set_payload(
        base64.b64encode(entry.canonicalized_body).decode(),
        entry.integrated_time,
        entry.log_id.hex(),
        entry.log_index,
    )
    key = _key_named(root.tlogs, entry.log_id)
    keys.verify(key, entry.inclusion_promise, payload, "PKIX_ECDSA_P256_SHA_256")
    with pytest.raises(VerificationError):
        keys.verify(key, entry.inclusion_promise, payload.replace(b'"logIndex":', b'"logIndex":1'))


@pytest.mark.parametrize("name", HAPPY)
def test_real_scts_and_chains_verify(name: str) -> None:
    """The leaf's issuer is the CA certificate ``verify_issued_by`` accepts; the embedded SCT
    verifies over the precertificate signed data built with ``key_id`` of that issuer."""
    bundle, root, _ = _case(name)
    leaf = x509.load_der_x509_certificate(bundle.verification_material.leaf_certificate or b"")
    issuers = []
    for ca in root.certificate_authorities:
        chain = [x509.load_der_x509_certificate(c) for c in ca.cert_chain]
        for child, parent in zip(chain, chain[1:], strict=False):
            keys.verify_issued_by(child, parent)
        keys.verify_issued_by(chain[-1], chain[-1])
        try:
            keys.verify_issued_by(leaf, chain[0])
        except VerificationError:
            continue
        issuers.append(chain[0])
    assert len(issuers) == 1
    (embedded,) = sct.scts_from_certificate(leaf)
    ct_key = _key_named(root.ctlogs, embedded.log_id)
    data = sct.precert_signed_data(
        embedded.timestamp,
        keys.key_id(issuers[0].public_key()),  # type: ignore[arg-type]
        sct.strip_extension_from_tbs(leaf.tbs_certificate_bytes, sct.OID_SCT_LIST),
        embedded.extensions,
    )
    embedded.verify(ct_key, data)
    with pytest.raises(VerificationError, match="CT signature does not verify"):
        embedded.verify(ct_key, data + b"\0")


def test_real_checkpoints_verify_with_their_log_keys() -> None:
    cases = json.loads((DATA / "vectors/sigstore/checkpoints.json").read_text())
    seen = set()
    for case in cases:
        key = keys.load_public_key(base64.b64decode(case["logPublicKeyDerB64"]))
        signed = note.SignedNote.from_text(case["checkpoint"])
        hint = base64.b64decode(case["logIdB64"])[:4]
        (line,) = [s for s in signed.signatures if s.key_id == hint]
        keys.verify(key, line.signature, signed.text.encode(), case["logKeyDetails"])
        with pytest.raises(VerificationError):
            keys.verify(key, line.signature, signed.text.encode() + b"x", case["logKeyDetails"])
        seen.add(case["logKeyDetails"])
    assert seen == {"PKIX_ECDSA_P256_SHA_256", "PKIX_ED25519"}


def test_a_real_chain_in_the_wrong_order_is_refused() -> None:
    root = TrustedRoot.from_file(str(ROOTS["production"]))
    ca = next(c for c in root.certificate_authorities if len(c.cert_chain) > 1)
    intermediate, anchor = (x509.load_der_x509_certificate(c) for c in ca.cert_chain[:2])
    with pytest.raises(VerificationError, match="another issuer"):
        keys.verify_issued_by(anchor, intermediate)
    with pytest.raises(VerificationError, match="another issuer"):
        keys.verify_issued_by(intermediate, intermediate)


def test_an_unknown_certificate_signature_algorithm_is_a_verification_error() -> None:
    """cryptography raises ValueError("Unsupported signature algorithm") for it."""
    root = TrustedRoot.from_file(str(ROOTS["production"]))
    ca = next(c for c in root.certificate_authorities if len(c.cert_chain) > 1)
    der, anchor_der = ca.cert_chain[0], ca.cert_chain[1]
    oid = bytes.fromhex("06082a8648ce3d040303")  # ecdsa-with-SHA384, in the TBS and outside
    assert der.count(oid) == 2
    odd = x509.load_der_x509_certificate(der.replace(oid, oid[:-1] + b"\x7f"))
    with pytest.raises(VerificationError, match="cannot be checked"):
        keys.verify_issued_by(odd, x509.load_der_x509_certificate(anchor_der))


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
        cert = x509.load_der_x509_certificate(
            TrustedRoot.from_file(str(ROOTS["production"])).certificate_authorities[0].cert_chain[0]
        )
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
