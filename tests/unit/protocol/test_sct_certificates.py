"""sigstack.protocol.sct on certificates: the real ones of tests/data and ones made here.

The 21 real SCTs embedded in the Fulcio certificates of tests/data (production and staging, ECDSA
and RSA CT logs): our encoder must reproduce their extension bytes, their fields must be those
cryptography's own parser reads, and their signatures must verify with the CT log keys of the
trusted roots over the signed data built here. Then ``scts_from_certificate`` and
``strip_extension_from_tbs`` on certificates and DER made here. The structures alone: test_sct.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import SignatureAlgorithm

from sigstack.protocol import keys, sct
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.trust import TrustedRoot
from tests.support.testdata import TESTDATA

SCT = sct.SignedCertificateTimestamp

# --- the real certificates -----------------------------------------------------------------------

ASSETS = TESTDATA / "pyassets"


@cache
def _real_leaves() -> dict[str, x509.Certificate]:
    """Every Fulcio leaf of tests/data: the cases' bundles and the test assets' .crt files."""
    out = {}
    for path in sorted(ASSETS.glob("cases/*/bundle.sigstore.json")):
        material = json.loads(path.read_text())["verificationMaterial"]
        chain = material.get("x509CertificateChain", {}).get("certificates", [])
        raw = material.get("certificate") or (chain[0] if chain else None)
        if raw is not None:  # production-v0.1-no-cert_fail has none
            der = base64.b64decode(raw["rawBytes"])
            out[path.parent.name] = x509.load_der_x509_certificate(der)
    for path in sorted(ASSETS.glob("test-assets/*.crt")):
        try:
            out[path.name] = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            continue  # not a PEM certificate
    return out


@cache
def _trust() -> tuple[dict[bytes, Any], list[x509.Certificate]]:
    """CT log keys by log ID, and the Fulcio CA certificates, of every trusted root there."""
    ct_keys, cas = {}, []
    paths = [*ASSETS.glob("trust/*/trusted_root.json"), *ASSETS.glob("cases/*/trusted_root.json")]
    for path in paths:
        root = TrustedRoot.from_file(str(path))
        for log in root.ctlogs:
            key = keys.load_public_key(log.public_key.raw_bytes)
            ct_keys[keys.key_id(key)] = key
        cas += [x509.load_der_x509_certificate(c) for ca in root.certificate_authorities
                for c in ca.cert_chain]  # fmt: skip
    return ct_keys, cas


def _issuer(leaf: x509.Certificate) -> x509.Certificate:
    for ca in _trust()[1]:
        try:
            keys.verify_issued_by(leaf, ca)
        except VerificationError:
            continue
        return ca
    raise AssertionError("no issuer in the trusted roots")


REAL = sorted(_real_leaves())


def test_the_real_certificates_are_all_there() -> None:
    assert len(REAL) == 21
    algs = {sct.scts_from_certificate(_real_leaves()[n])[0].sig_alg for n in REAL}
    assert algs == {sct.SIG_ECDSA, sct.SIG_RSA}


@pytest.mark.parametrize("name", REAL)
def test_real_scts_read_as_cryptography_reads_them(name: str) -> None:
    leaf = _real_leaves()[name]
    ours = sct.scts_from_certificate(leaf)
    listed = leaf.extensions.get_extension_for_oid(sct.OID_SCT_LIST).value
    theirs = list(listed)  # type: ignore[call-overload]
    assert len(ours) == len(theirs) == 1
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.version == other.version.value == 0
        assert mine.log_id == other.log_id
        stamp = other.timestamp.replace(tzinfo=dt.UTC)
        assert mine.timestamp == round(stamp.timestamp() * 1000)
        assert mine.extensions == other.extension_bytes
        assert mine.signature == other.signature
        assert mine.hash_alg == sct.HASH_SHA256 and other.signature_hash_algorithm.name == "sha256"
        want = {SignatureAlgorithm.ECDSA: sct.SIG_ECDSA, SignatureAlgorithm.RSA: sct.SIG_RSA}
        assert mine.sig_alg == want[other.signature_algorithm]


@pytest.mark.parametrize("name", REAL)
def test_real_sct_lists_encode_back_to_the_same_bytes(name: str) -> None:
    leaf = _real_leaves()[name]
    ext = leaf.extensions.get_extension_for_oid(sct.OID_SCT_LIST).value
    extn_value = ext.public_bytes()  # type: ignore[attr-defined]
    scts = sct.scts_from_certificate(leaf)
    assert sct.sct_list_extension_value(scts) == extn_value
    tls = sct.encode_sct_list(scts)
    assert extn_value.endswith(tls) and sct.decode_sct_list(tls) == scts
    for one in scts:
        assert SCT.from_bytes(one.to_bytes()) == one and one.to_bytes() in tls
        assert SCT.from_json(json.loads(json.dumps(one.to_json()))) == one


@pytest.mark.parametrize("name", REAL)
def test_stripping_the_sct_list_gives_the_precertificate_tbs(name: str) -> None:
    """cryptography's ``tbs_precertificate_bytes`` is an independent encoder of the same thing."""
    leaf = _real_leaves()[name]
    stripped = sct.strip_extension_from_tbs(leaf.tbs_certificate_bytes, sct.OID_SCT_LIST)
    assert stripped == leaf.tbs_precertificate_bytes
    assert len(stripped) < len(leaf.tbs_certificate_bytes)


@pytest.mark.parametrize("name", REAL)
def test_real_scts_verify_over_the_signed_data_built_here(name: str) -> None:
    leaf = _real_leaves()[name]
    (embedded,) = sct.scts_from_certificate(leaf)
    ct_key = _trust()[0][embedded.log_id]
    assert sct.log_id(ct_key) == embedded.log_id
    issuer_key_hash = sct.log_id(_issuer(leaf).public_key())  # type: ignore[arg-type]
    tbs = sct.strip_extension_from_tbs(leaf.tbs_certificate_bytes, sct.OID_SCT_LIST)
    data = sct.precert_signed_data(embedded.timestamp, issuer_key_hash, tbs, embedded.extensions)
    embedded.verify(ct_key, data)
    for wrong in (
        sct.precert_signed_data(embedded.timestamp + 1, issuer_key_hash, tbs, embedded.extensions),
        sct.precert_signed_data(embedded.timestamp, bytes(32), tbs, embedded.extensions),
        sct.precert_signed_data(embedded.timestamp, issuer_key_hash, leaf.tbs_certificate_bytes),
        sct.x509_signed_data(embedded.timestamp, leaf.public_bytes(serialization.Encoding.DER)),
    ):
        with pytest.raises(VerificationError):
            embedded.verify(ct_key, wrong)


# --- scts_from_certificate and strip_extension_from_tbs on certificates made here ----------------

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
POISON = x509.PrecertPoison()


def _builder(key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(minutes=10))
    )  # fmt: skip


def _tbs(key: ec.EllipticCurvePrivateKey, *exts: x509.ExtensionType) -> bytes:
    builder = _builder(key)
    for ext in exts:
        builder = builder.add_extension(ext, critical=isinstance(ext, x509.PrecertPoison))
    return builder.sign(key, hashes.SHA256()).tbs_certificate_bytes


def test_strip_the_poison_from_a_precertificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    basic = x509.BasicConstraints(ca=False, path_length=None)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    precert = _tbs(key, basic, POISON, ski)
    assert sct.strip_extension_from_tbs(precert) == _tbs(key, basic, ski)
    # the only extension: the extensions field goes with it
    assert sct.strip_extension_from_tbs(_tbs(key, POISON)) == _tbs(key)
    # a large certificate: long-form lengths are re-encoded shorter
    san = x509.SubjectAlternativeName([x509.DNSName("a" * 60 + f".{i}.test") for i in range(8)])
    assert sct.strip_extension_from_tbs(_tbs(key, san, POISON)) == _tbs(key, san)
    with pytest.raises(ValidationError, match="does not carry the expected extension"):
        sct.strip_extension_from_tbs(_tbs(key, basic))
    with pytest.raises(ValidationError, match="does not carry the expected extension"):
        sct.strip_extension_from_tbs(_tbs(key))


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x80
    return bytes([tag, len(body)]) + body


POISON_EXT = _der(0x30, _der(0x06, bytes.fromhex("2b06010401d679020403")) + b"\x01\x01\xff"
                  + _der(0x04, b"\x05\x00"))  # fmt: skip


@pytest.mark.parametrize(
    "tbs,error",
    [
        (b"", "truncated DER"),
        (b"\x30", "truncated DER"),
        (b"\x30\x05\x02\x01", "truncated DER"),
        (_der(0x04, b""), "not a DER SEQUENCE"),
        (_der(0x30, b"") + b"\x00", "not a DER SEQUENCE"),  # trailing bytes
        (b"\x1f\x01\x00", "unsupported DER tag"),
        (b"\x30\x80", "bad DER length"),  # indefinite length: not DER
        (b"\x30\x85\x00\x00\x00\x00\x00", "bad DER length"),  # more than 4 length bytes
        (b"\x30\x82\x00", "bad DER length"),
        (_der(0x30, b"\x02\x01"), "truncated DER"),  # a child past the end
        (_der(0x30, _der(0xA3, _der(0x31, POISON_EXT))), "malformed extensions"),
        (_der(0x30, _der(0xA3, _der(0x30, POISON_EXT) + b"\x05\x00")), "malformed extensions"),
        (_der(0x30, _der(0xA3, _der(0x30, _der(0x31, b"")))), "malformed extension"),
        (_der(0x30, _der(0xA3, _der(0x30, _der(0x30, b"\x05\x00")))), "malformed extension"),
    ],
)
def test_malformed_tbs_is_refused(tbs: bytes, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        sct.strip_extension_from_tbs(tbs)


def test_strip_on_hand_made_der() -> None:
    other = _der(0x30, _der(0x06, b"\x55\x1d\x13") + _der(0x04, b"\x30\x00"))
    fields = _der(0x02, b"\x07")
    tbs = _der(0x30, fields + _der(0xA3, _der(0x30, other + POISON_EXT)))
    assert sct.strip_extension_from_tbs(tbs) == _der(0x30, fields + _der(0xA3, _der(0x30, other)))
    oid = x509.ObjectIdentifier("2.5.29.19")
    assert sct.strip_extension_from_tbs(tbs, oid) == _der(
        0x30, fields + _der(0xA3, _der(0x30, POISON_EXT))
    )


def test_scts_from_certificates_made_here() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert sct.scts_from_certificate(_builder(key).sign(key, hashes.SHA256())) == []
    log_id, signature = bytes(range(32)), b"\x30\x06\x02\x01\x01\x02\x01\x02"
    scts = [SCT(log_id, 1, signature), SCT(log_id, 2, signature, extensions=b"e")]
    cert = _builder(key).add_extension(sct.sct_list_extension(scts), critical=False)
    assert sct.scts_from_certificate(cert.sign(key, hashes.SHA256())) == scts
    bad_list = x509.UnrecognizedExtension(sct.OID_SCT_LIST, b"\x04\x02\x00\x05")
    cert = _builder(key).add_extension(bad_list, critical=False).sign(key, hashes.SHA256())
    with pytest.raises(ValidationError):
        sct.scts_from_certificate(cert)
