"""Sigstore OID extensions: both encodings, round trips through real certificates."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.protocol import x509ext
from sigstack.protocol.errors import ValidationError


def _cert(
    extensions: list[x509.ExtensionType], san: x509.GeneralName | None = None
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(minutes=10))
    )
    for ext in extensions:
        b = b.add_extension(ext, critical=False)
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName([san]), critical=True)
    return b.sign(key, hashes.SHA256())


def test_encodings_per_class() -> None:
    exts = x509ext.encode_extensions(
        {
            "issuer_v1": "https://i",
            "issuer": "https://i",
            "github_workflow_sha": "abc",
            "build_signer_uri": "x" * 200,
            "token_subject": "s",
        }
    )
    by = {e.oid.dotted_string: e.value for e in exts}
    assert by["1.3.6.1.4.1.57264.1.1"] == b"https://i"
    assert by["1.3.6.1.4.1.57264.1.3"] == b"abc"
    assert by["1.3.6.1.4.1.57264.1.8"] == b"\x0c\x09https://i"
    assert by["1.3.6.1.4.1.57264.1.9"] == b"\x0c\x81\xc8" + b"x" * 200
    assert [e.oid.dotted_string for e in exts] == sorted(by, key=lambda o: int(o.rsplit(".", 1)[1]))


def test_round_trip_all_names() -> None:
    values = {name: f"v-{name}-é" for name in x509ext.NAMES}
    cert = _cert(x509ext.encode_extensions(values))
    assert x509ext.decode_extensions(cert) == values
    assert x509ext.oidc_issuer(cert) == values["issuer"]


def test_tolerant_decoding_and_fallback() -> None:
    cert = _cert(
        [
            x509.UnrecognizedExtension(
                x509ext.OID_ISSUER_V1, x509ext.der_utf8string("https://old")
            ),
            x509.UnrecognizedExtension(x509ext.OID_BUILD_TRIGGER, b"push"),
        ]
    )
    got = x509ext.decode_extensions(cert)
    assert got["issuer_v1"] == "https://old" and got["issuer"] == "https://old"
    assert got["build_trigger"] == "push"
    assert x509ext.oidc_issuer(_cert([])) is None


def test_unknown_name_and_empty_values() -> None:
    with pytest.raises(ValidationError):
        x509ext.encode_extensions({"nope": "x"})
    assert x509ext.encode_extensions({"issuer": "", "build_trigger": ""}) == []


def test_parse_der_rejects_non_der() -> None:
    assert x509ext.parse_der_utf8string(b"\x0c\x81\x05hello") is None  # not minimal
    assert x509ext.parse_der_utf8string(b"\x0c\x05hell") is None
    assert x509ext.parse_der_utf8string(b"\x04\x01a") is None


def test_username_san_round_trip() -> None:
    san = x509ext.username_san("alice!example.com")
    assert san.value == b"\x0c\x11alice!example.com"
    cert = _cert([], san)
    got = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509ext.decode_username_san(got[0]) == "alice!example.com"


def test_extensions_that_do_not_parse_are_a_validation_error() -> None:
    """cryptography parses extensions on first use; a repeated or malformed one was a
    ``DuplicateExtension`` / ``ValueError`` out of ``decode_extensions`` (found by fuzzing)."""
    from tests.unit.fuzz.broken import duplicated_extension, malformed_extension

    der = _cert([], x509.RFC822Name("a@example.com")).public_bytes(Encoding.DER)
    for broken, why in (
        (duplicated_extension(der), "twice"),
        (malformed_extension(der), "malformed"),
    ):
        cert = x509.load_der_x509_certificate(broken)
        with pytest.raises(ValidationError, match=why):
            x509ext.decode_extensions(cert)
