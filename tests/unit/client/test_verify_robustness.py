"""Corrupting any byte-carrying field of a real bundle makes verify-bundle exit 1 with an
``Error:`` line: no traceback, no acceptance."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sigstack.client.cli import main
from tests.support.testdata import TESTDATA

CASE = TESTDATA / "pyassets/cases/staging-v0.3-happy-path"
FIELDS = [
    ("verificationMaterial", "certificate", "rawBytes"),
    ("verificationMaterial", "tlogEntries", 0, "canonicalizedBody"),
    ("verificationMaterial", "tlogEntries", 0, "inclusionPromise", "signedEntryTimestamp"),
    ("verificationMaterial", "tlogEntries", 0, "inclusionProof", "rootHash"),
    ("verificationMaterial", "tlogEntries", 0, "inclusionProof", "hashes", 0),
    ("verificationMaterial", "tlogEntries", 0, "logId", "keyId"),
    ("messageSignature", "signature"),
    ("messageSignature", "messageDigest", "digest"),
]


def _flip(value: str, position: float) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[int(len(raw) * position) % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("position", [0.0, 0.1, 0.37, 0.5, 0.93])
@pytest.mark.parametrize("path", FIELDS, ids=lambda p: ".".join(map(str, p)))
def test_flipped_bit_is_rejected(path, position, tmp_path: Path, capsys) -> None:
    doc = json.loads((CASE / "bundle.sigstore.json").read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _flip(node[path[-1]], position)
    (tmp_path / "b.json").write_text(json.dumps(doc))
    code = main(["verify-bundle", "--bundle", str(tmp_path / "b.json"),
                 "--certificate-identity", (CASE / "identity").read_text().strip(),
                 "--certificate-oidc-issuer", (CASE / "issuer").read_text().strip(),
                 "--trusted-root", str(CASE / "trusted_root.json"), str(CASE / "artifact")])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err.startswith("Error: ")


@pytest.mark.parametrize(
    "cut, accepted",
    [
        (10, False),  # origin line (signed)
        (50, False),  # root hash line (signed)
        (180, False),  # the signature itself
        # the key name on the signature line is not signed and, by Rekor v1's rule (which
        # sigstore-python follows), not checked: the 4-byte key hint selects the key
        (100, True),
    ],
)
def test_checkpoint_text_corrupted(cut: int, accepted: bool, tmp_path: Path, capsys) -> None:
    doc = json.loads((CASE / "bundle.sigstore.json").read_text())
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    text = proof["checkpoint"]["envelope"]
    assert text[cut] != "x"
    proof["checkpoint"]["envelope"] = text[:cut] + "x" + text[cut + 1 :]
    (tmp_path / "b.json").write_text(json.dumps(doc))
    code = main(["verify-bundle", "--bundle", str(tmp_path / "b.json"),
                 "--certificate-identity", (CASE / "identity").read_text().strip(),
                 "--certificate-oidc-issuer", (CASE / "issuer").read_text().strip(),
                 "--trusted-root", str(CASE / "trusted_root.json"), str(CASE / "artifact")])  # fmt: skip
    assert code == (0 if accepted else 1)
    if not accepted:
        assert capsys.readouterr().err.startswith("Error: ")


def test_certificates_cryptography_cannot_read() -> None:
    """Outside ``Verifier`` (whose fail-closed wrapper caught ValueError only) these escaped
    from the shared checks the legacy OCI verifier calls too (found by fuzzing): a version-4
    certificate, a repeated extension, a subject whose RDN repeats an attribute (the chain
    builder's ValueError), a logged certificate with a key of an unknown type."""
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.client.verify import tlog
    from sigstack.client.verify.certs import ChainVerifier, check_leaf_usage, load_certificate
    from sigstack.protocol.errors import VerificationError
    from sigstack.protocol.trust import TrustedRoot
    from tests.unit.fuzz import broken, seeds

    leaf = seeds.certificates()[0]
    named = next(d for d in seeds.certificates() if x509.load_der_x509_certificate(d).subject)
    with pytest.raises(VerificationError, match="not a valid DER"):
        load_certificate(broken.bad_version(leaf))
    with pytest.raises(VerificationError, match="appears twice"):
        check_leaf_usage(load_certificate(broken.duplicated_extension(leaf)))
    chains = ChainVerifier(TrustedRoot.from_json((CASE / "trusted_root.json").read_bytes()))
    cert = load_certificate(broken.malformed_subject(named))
    with pytest.raises(VerificationError, match="malformed"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chains.verify_at(cert, cert.not_valid_before_utc)
    unknown = x509.load_der_x509_certificate(broken.unknown_key_type(leaf))
    pem = base64.b64encode(unknown.public_bytes(Encoding.PEM)).decode()
    assert not tlog._same_key_material(pem, ec.generate_private_key(ec.SECP256R1()).public_key())
