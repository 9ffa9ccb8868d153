"""sigstack.protocol.sct: every RFC 6962 encoder and decoder, byte for byte.

The expected bytes are the layouts of RFC 6962 sections 3.2-3.5 written out here field by field
(TLS presentation language, RFC 5246 section 4: big-endian integers, length prefixes). The SCTs of
real and hand-made certificates: test_sct_certificates.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.protocol import sct
from sigstack.protocol.errors import ValidationError, VerificationError

SCT = sct.SignedCertificateTimestamp
LOG_ID = bytes(range(32))
TS = 0x0102030405060708
SIG = b"\x30\x06\x02\x01\x01\x02\x01\x02"  # any bytes: the encoders do not look inside


def _sct(**changes: Any) -> sct.SignedCertificateTimestamp:
    fields = {"log_id": LOG_ID, "timestamp": TS, "signature": SIG, **changes}
    return SCT(**fields)


# --- DigitallySigned (RFC 5246 section 4.7, RFC 6962 section 2.1.4) -------------------------------


def test_digitally_signed_layout() -> None:
    assert sct.digitally_signed(b"\xaa\xbb") == b"\x04\x03\x00\x02\xaa\xbb"  # sha256, ecdsa
    assert sct.digitally_signed(b"", sct.HASH_SHA256, sct.SIG_RSA) == b"\x04\x01\x00\x00"
    assert sct.parse_digitally_signed(b"\x04\x01\x00\x02\xaa\xbb") == (4, 1, b"\xaa\xbb")


@pytest.mark.parametrize(
    "data,error",
    [
        (b"", "truncated DigitallySigned"),
        (b"\x04", "truncated DigitallySigned"),
        (b"\x04\x03\x00", "truncated DigitallySigned"),
        (b"\x04\x03\x00\x03\xaa\xbb", "truncated DigitallySigned"),
        (b"\x04\x03\x00\x01\xaa\xbb", "trailing bytes after DigitallySigned"),
    ],
)
def test_parse_digitally_signed_refuses(data: bytes, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        sct.parse_digitally_signed(data)


def test_a_signature_longer_than_a_uint16_prefix_is_refused() -> None:
    with pytest.raises(ValidationError, match="uint16"):
        sct.digitally_signed(bytes(0x10000))
    assert len(sct.digitally_signed(bytes(0xFFFF))) == 4 + 0xFFFF


# --- SignedCertificateTimestamp (section 3.2) and AddChainResponse (section 4.1) ------------------

SCT_BYTES = (
    b"\x00"  # sct_version v1
    + LOG_ID  # LogID: opaque key_id[32]
    + b"\x01\x02\x03\x04\x05\x06\x07\x08"  # uint64 timestamp
    + b"\x00\x03ext"  # CtExtensions extensions<0..2^16-1>
    + b"\x04\x03\x00\x08"  # digitally-signed: sha256, ecdsa, uint16 length
    + SIG
)


def test_sct_to_and_from_bytes() -> None:
    value = _sct(extensions=b"ext")
    assert value.to_bytes() == SCT_BYTES
    assert SCT.from_bytes(SCT_BYTES) == value
    rsa = _sct(sig_alg=sct.SIG_RSA)
    assert rsa.to_bytes()[-len(SIG) - 4 : -len(SIG)] == b"\x04\x01\x00\x08"
    assert SCT.from_bytes(rsa.to_bytes()) == rsa


@pytest.mark.parametrize("cut", range(len(SCT_BYTES)))
def test_every_truncated_sct_is_refused(cut: int) -> None:
    with pytest.raises(ValidationError, match="truncated SCT"):
        SCT.from_bytes(SCT_BYTES[:cut])


def test_sct_version_and_trailing_bytes() -> None:
    with pytest.raises(ValidationError, match="unsupported SCT version 1"):
        SCT.from_bytes(b"\x01" + SCT_BYTES[1:])
    with pytest.raises(ValidationError, match="trailing bytes after SCT"):
        SCT.from_bytes(SCT_BYTES + b"\x00")


def test_sct_json_is_the_add_chain_response() -> None:
    value = _sct(extensions=b"ext")
    assert value.to_json() == {
        "sct_version": 0,
        "id": base64.b64encode(LOG_ID).decode(),
        "timestamp": TS,
        "extensions": "ZXh0",
        "signature": base64.b64encode(b"\x04\x03\x00\x08" + SIG).decode(),
    }
    assert SCT.from_json(value.to_json()) == value
    assert SCT.from_json(json.loads(json.dumps(value.to_json()))) == value


def test_sct_json_extensions_may_be_empty_absent_or_null() -> None:
    doc = _sct().to_json()
    assert doc["extensions"] == ""
    assert SCT.from_json({k: v for k, v in doc.items() if k != "extensions"}) == _sct()
    assert SCT.from_json({**doc, "extensions": None}) == _sct()


def _json(**changes: Any) -> Any:
    doc = _sct().to_json()
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        _json(sct_version=...),
        _json(id=...),
        _json(timestamp=...),
        _json(signature=...),
        _json(sct_version=1),
        _json(timestamp="soon"),
        _json(id=base64.b64encode(LOG_ID[:31]).decode()),  # a log ID is 32 bytes
        _json(id=base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()),  # Go's StdEncoding only
        _json(id=base64.b64encode(LOG_ID).decode().rstrip("=") + " "),
        _json(extensions="!"),
        _json(signature=1),
        [],
        None,
        "sct",
    ],
    ids=lambda d: json.dumps(d)[:60],
)
def test_malformed_add_chain_responses(doc: Any) -> None:
    with pytest.raises(ValidationError, match="malformed AddChainResponse"):
        SCT.from_json(doc)


@pytest.mark.parametrize(
    "signed,error",
    [
        (b"\x04\x03\x00\x09" + SIG, "truncated DigitallySigned"),
        (b"\x04\x03\x00\x08" + SIG + b"\x00", "trailing bytes after DigitallySigned"),
    ],
)
def test_add_chain_response_signature_must_be_one_digitally_signed(
    signed: bytes, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        SCT.from_json(_json(signature=base64.b64encode(signed).decode()))


# --- SignedCertificateTimestampList (section 3.3) and its X.509 extension -------------------------


def test_sct_list_layout() -> None:
    one, two = _sct(), _sct(timestamp=1, extensions=b"e")
    body = struct.pack(">H", len(one.to_bytes())) + one.to_bytes()
    body += struct.pack(">H", len(two.to_bytes())) + two.to_bytes()
    assert sct.encode_sct_list([one, two]) == struct.pack(">H", len(body)) + body
    assert sct.decode_sct_list(struct.pack(">H", len(body)) + body) == [one, two]
    assert sct.encode_sct_list([]) == b"\x00\x00"
    assert sct.decode_sct_list(b"\x00\x00") == []


@pytest.mark.parametrize(
    "data,error",
    [
        (b"", "truncated SCT list"),
        (b"\x00", "truncated SCT list"),
        (b"\x00\x05\x00\x03", "truncated SCT list"),  # outer length past the end
        (b"\x00\x00\x00", "trailing bytes after SCT list"),
        (b"\x00\x01\x00", "truncated SCT list"),  # an inner length cut in half
        (b"\x00\x04\x00\x05\x00\x00", "truncated SCT list"),  # inner length past the outer
        (b"\x00\x02\x00\x00", "truncated SCT"),  # an empty SCT
        (struct.pack(">HH", len(SCT_BYTES) + 3, len(SCT_BYTES) + 1) + SCT_BYTES + b"\x00",
         "trailing bytes after SCT"),
    ],
)  # fmt: skip
def test_malformed_sct_lists(data: bytes, error: str) -> None:
    with pytest.raises(ValidationError, match=f"^{error}"):
        sct.decode_sct_list(data)


@pytest.mark.parametrize(
    "count,header", [(1, b"\x04\x6b"), (2, b"\x04\x81\xd4"), (3, b"\x04\x82\x01\x3d")]
)
def test_sct_list_extension_value_is_a_der_octet_string(count: int, header: bytes) -> None:
    """Short-form length below 128 bytes, long form (0x81, 0x82 ...) from there: SCTs of 103
    bytes make lists of 107, 212 and 317 bytes."""
    scts = [_sct(extensions=b"x" * 48)] * count
    assert len(scts[0].to_bytes()) == 103
    value = sct.sct_list_extension_value(scts)
    assert value == header + sct.encode_sct_list(scts)
    ext = sct.sct_list_extension(scts)
    assert ext.oid == sct.OID_SCT_LIST == x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
    assert ext.value == value


# --- what is signed: sections 3.2 (SCT), 3.4 (MerkleTreeLeaf), 3.5 (tree head) -------------------

CERT = b"\x30\x03\x02\x01\x07"  # bytes the structures carry opaquely
ISSUER_KEY_HASH = hashlib.sha256(b"issuer").digest()


def test_x509_signed_data_layout() -> None:
    want = (
        b"\x00"  # sct_version v1
        + b"\x00"  # signature_type certificate_timestamp
        + b"\x01\x02\x03\x04\x05\x06\x07\x08"  # timestamp
        + b"\x00\x00"  # entry_type x509_entry
        + b"\x00\x00\x05" + CERT  # ASN.1Cert<1..2^24-1>
        + b"\x00\x02ex"  # CtExtensions
    )  # fmt: skip
    assert sct.x509_signed_data(TS, CERT, b"ex") == want
    assert sct.signed_data(TS, sct.X509_ENTRY, sct.x509_signed_entry(CERT), b"ex") == want
    assert sct.x509_signed_entry(CERT) == b"\x00\x00\x05" + CERT


def test_precert_signed_data_layout() -> None:
    want = (
        b"\x00\x00"
        + b"\x01\x02\x03\x04\x05\x06\x07\x08"
        + b"\x00\x01"  # entry_type precert_entry
        + ISSUER_KEY_HASH  # PreCert.issuer_key_hash[32]
        + b"\x00\x00\x05" + CERT  # TBSCertificate<1..2^24-1>
        + b"\x00\x00"  # no extensions
    )  # fmt: skip
    assert sct.precert_signed_data(TS, ISSUER_KEY_HASH, CERT) == want
    assert (
        sct.precert_signed_entry(ISSUER_KEY_HASH, CERT) == ISSUER_KEY_HASH + b"\x00\x00\x05" + CERT
    )
    assert (
        sct.signed_data(TS, sct.PRECERT_ENTRY, sct.precert_signed_entry(ISSUER_KEY_HASH, CERT))
        == want
    )


def test_merkle_tree_leaf_is_the_timestamped_entry() -> None:
    """Section 3.4: version v1 (0), leaf_type timestamped_entry (0), then the TimestampedEntry,
    which holds the same fields as the SCT's signed data."""
    entry = sct.precert_signed_entry(ISSUER_KEY_HASH, CERT)
    leaf = sct.merkle_tree_leaf(TS, sct.PRECERT_ENTRY, entry, b"")
    assert leaf == b"\x00\x00" + struct.pack(">QH", TS, 1) + entry + b"\x00\x00"
    assert leaf == sct.precert_signed_data(TS, ISSUER_KEY_HASH, CERT)


def test_tree_head_signed_data_layout() -> None:
    root = hashlib.sha256(b"root").digest()
    data = sct.tree_head_signed_data(TS, 0x1122334455667788, root)
    assert data == b"\x00\x01" + bytes.fromhex("01020304050607081122334455667788") + root
    assert len(data) == 2 + 8 + 8 + 32


def test_length_prefixes_have_limits() -> None:
    with pytest.raises(ValidationError, match="uint16"):
        sct.x509_signed_data(TS, CERT, bytes(0x10000))
    with pytest.raises(ValidationError, match="uint24"):
        sct.x509_signed_entry(bytes(0x1000000))
    assert sct.x509_signed_entry(bytes(0xFFFFFF))[:3] == b"\xff\xff\xff"


def test_log_id_is_the_sha256_of_the_spki() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert sct.log_id(key) == hashlib.sha256(spki).digest()


# --- signatures ----------------------------------------------------------------------------------


def test_an_sct_signed_here_verifies_and_nothing_else_does() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = sct.x509_signed_data(TS, CERT)
    value = _sct(
        log_id=sct.log_id(key.public_key()), signature=key.sign(data, ec.ECDSA(hashes.SHA256()))
    )
    value.verify(key.public_key(), data)
    with pytest.raises(VerificationError, match="CT signature does not verify"):
        value.verify(key.public_key(), sct.x509_signed_data(TS + 1, CERT))
    with pytest.raises(VerificationError, match="CT signature does not verify"):
        value.verify(ec.generate_private_key(ec.SECP256R1()).public_key(), data)
    with pytest.raises(VerificationError, match="not signed with SHA-256"):
        sct.verify_digitally_signed(key.public_key(), 5, value.signature, data)
    with pytest.raises(VerificationError, match="ECDSA or RSA"):
        sct.verify_digitally_signed(ed25519.Ed25519PrivateKey.generate().public_key(), 4, b"", data)
