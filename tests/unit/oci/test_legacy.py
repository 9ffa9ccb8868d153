"""``LegacyVerifier`` refuses malformed ``.sig`` layers with reasons, before any network or
registry is involved (the happy path and the cryptographic refusals run against the real stack in
tests/integration/oci)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.client.oci import formats
from sigstack.client.oci.legacy import LegacyVerifier
from sigstack.client.verify import IdentityPolicy
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.trust import TrustedRoot
from tests.support.testdata import TESTDATA

ROOT = TESTDATA / "pyassets" / "cases" / "staging-v0.3-happy-path" / "trusted_root.json"
POLICY = IdentityPolicy(identity="a@example.com", issuer="https://issuer.example")


@pytest.fixture(scope="module")
def verifier() -> LegacyVerifier:
    return LegacyVerifier(TrustedRoot.from_json(ROOT.read_bytes()))


def _self_signed() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(minutes=5))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _version_4() -> str:
    from cryptography.x509 import load_pem_x509_certificate

    from tests.unit.fuzz.broken import bad_version

    der = load_pem_x509_certificate(_self_signed().encode()).public_bytes(
        serialization.Encoding.DER
    )
    body = base64.encodebytes(bad_version(der)).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def _bundle() -> str:
    body = json.dumps({"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}}).encode()
    return json.dumps({
        "SignedEntryTimestamp": base64.b64encode(b"not a signature").decode(),
        "Payload": {"body": base64.b64encode(body).decode(), "integratedTime": 1700000000,
                    "logIndex": 1, "logID": "00" * 32},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("drop", "change", "reason"),
    [
        (formats.ANN_SIGNATURE, None, "no signature annotation"),
        (None, (formats.ANN_SIGNATURE, "***"), "signature annotation is not base64"),
        (formats.ANN_CERTIFICATE, None, "no certificate annotation"),
        (None, (formats.ANN_CERTIFICATE, "-----BEGIN nothing"), "not a PEM certificate"),
        (formats.ANN_BUNDLE, None, "nothing proves the signature was logged"),
        (None, (formats.ANN_BUNDLE, "{}"), "Rekor bundle annotation is malformed"),
        (None, None, "invalid inclusion promise (SET)"),
        # OCI annotations are a string map; other JSON types were a TypeError or an
        # AttributeError (found by fuzzing), and so was a version-4 certificate (InvalidVersion)
        (
            None,
            (formats.ANN_SIGNATURE, True),
            "annotation dev.cosignproject.cosign/signature is not a string",
        ),
        (
            None,
            (formats.ANN_CERTIFICATE, 5),
            "annotation dev.sigstore.cosign/certificate is not a string",
        ),
        (
            None,
            (formats.ANN_BUNDLE, {"a": 1}),
            "annotation dev.sigstore.cosign/bundle is not a string",
        ),
        (None, (formats.ANN_CERTIFICATE, "version 4"), "not a PEM certificate"),
    ],
)
def test_refusals(verifier, drop, change, reason) -> None:
    annotations = {
        formats.ANN_SIGNATURE: base64.b64encode(b"sig").decode(),
        formats.ANN_CERTIFICATE: _self_signed(),
        formats.ANN_BUNDLE: _bundle(),
    }
    if drop:
        del annotations[drop]
    if change:
        annotations[change[0]] = _version_4() if change[1] == "version 4" else change[1]
    with pytest.raises(VerificationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        verifier.verify_signature(annotations, b"{}", POLICY)


@pytest.mark.parametrize("integrated", [10**18, 2**63 - 1, -1, 0])
def test_integrated_time_out_of_range_is_refused(verifier, integrated) -> None:
    """An integrated time that is no representable time is a refusal, not an OverflowError."""
    doc = json.loads(_bundle())
    doc["Payload"]["integratedTime"] = integrated
    annotations = {
        formats.ANN_SIGNATURE: base64.b64encode(b"sig").decode(),
        formats.ANN_CERTIFICATE: _self_signed(),
        formats.ANN_BUNDLE: json.dumps(doc),
    }
    with pytest.raises(VerificationError):
        verifier.verify_signature(annotations, b"{}", POLICY)
