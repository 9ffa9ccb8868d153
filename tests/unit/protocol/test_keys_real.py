"""sigstack.protocol.keys against outside material.

The log and CT log IDs of the real trusted roots (public-good, staging, a rekor-tiles test root),
and the signatures, SETs, SCTs, checkpoints and certificate chains of the real bundles in
tests/data. Cases built here: test_keys.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import keys, note, rekor, sct
from sigstack.protocol.bundle import Bundle, pae
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.keys import Algorithm
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
