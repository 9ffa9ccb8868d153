"""``client.monitor.entries``: what each kind of logged body names, read from bodies as the logs
store them (canonical JSON made by the logs' own code) and from RFC 6962 leaves."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.client.monitor.der import certificate_tbs, spki_of_tbs, wrap_tbs
from sigstack.client.monitor.entries import from_ct_leaf, from_rekor_body
from sigstack.protocol.canonical import canonicalize
from tests.integration.monitor.kit import v1_hashedrekord
from tests.unit.monitor.certs import DER, key, leaf, precert_leaf_input, spki, x509_leaf_input

PEM = serialization.Encoding.PEM


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _dsse(payload: bytes, cert_pem: bytes) -> bytes:
    """A dsse 0.0.1 body as Rekor logs it (the envelope reduced to hashes and signatures)."""
    return canonicalize({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": "ee" * 32},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": "AA==", "verifier": _b64(cert_pem)}]}})  # fmt: skip


def _intoto(payload: bytes, cert_pem: bytes) -> bytes:
    """An intoto 0.0.2 body as Rekor logs it (the payload dropped)."""
    return canonicalize({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payloadType": "application/vnd.in-toto+json",
                     "signatures": [{"publicKey": _b64(cert_pem), "sig": "QUE="}]},
        "hash": {"algorithm": "sha256", "value": "ee" * 32},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}}}})  # fmt: skip


def test_rekor_v1_bodies_as_the_log_stores_them() -> None:
    k = key()
    cert_der = leaf(x509.RFC822Name("a@example.com"), k=k)
    cert = x509.load_der_x509_certificate(cert_der)
    got = from_rekor_body(canonicalize(v1_hashedrekord(b"artifact", k, cert)))  # as logged
    assert got.kind == "hashedrekord/0.0.1" and got.readable
    assert got.certificates == (cert_der,) and got.keys == ()
    assert got.digests == (f"sha256:{hashlib.sha256(b'artifact').hexdigest()}",)
    bare = from_rekor_body(canonicalize(v1_hashedrekord(b"x", k, None)))
    assert bare.certificates == () and bare.keys == (spki(k),)
    dsse = from_rekor_body(_dsse(b'{"a": 1}', cert.public_bytes(PEM)))
    assert dsse.kind == "dsse/0.0.1" and dsse.certificates == (cert_der,)
    assert "sha256:" + hashlib.sha256(b'{"a": 1}').hexdigest() in dsse.digests
    assert len(dsse.digests) == 2  # payload and envelope
    intoto = from_rekor_body(_intoto(b'{"b": 2}', cert.public_bytes(PEM)))
    assert intoto.kind == "intoto/0.0.2" and intoto.certificates == (cert_der,)
    assert "sha256:" + hashlib.sha256(b'{"b": 2}').hexdigest() in intoto.digests


def test_other_kinds_and_versions() -> None:
    k = key()
    cert_der = leaf(x509.RFC822Name("a@example.com"), k=k)
    chain_pem = x509.load_der_x509_certificate(cert_der).public_bytes(PEM) + x509.load_der_x509_certificate(
        leaf(x509.RFC822Name("ca@example.com"))).public_bytes(PEM)  # fmt: skip
    rekord = {"kind": "rekord", "apiVersion": "0.0.1", "spec": {
        "signature": {"format": "x509", "content": "AA==", "publicKey": {"content": _b64(chain_pem)}},
        "data": {"hash": {"algorithm": "sha256", "value": "AB" * 32}}}}  # fmt: skip
    got = from_rekor_body(canonicalize(rekord))
    assert got.certificates == (cert_der,)  # the leaf only, not the chain above it
    assert got.digests == ("sha256:" + "ab" * 32,)
    intoto1 = {"kind": "intoto", "apiVersion": "0.0.1", "spec": {
        "publicKey": _b64(serialization.load_der_public_key(spki(k)).public_bytes(
            PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "content": {"hash": {"algorithm": "sha256", "value": "cd" * 32}}}}  # fmt: skip
    got = from_rekor_body(canonicalize(intoto1))
    assert got.keys == (spki(k),) and got.digests == ("sha256:" + "cd" * 32,)
    v2 = {"kind": "hashedrekord", "apiVersion": "0.0.2", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_384", "digest": _b64(b"\x01" * 48)},
        "signature": {"content": "AA==", "verifier": {"x509Certificate": {"rawBytes": _b64(cert_der)},
                                                     "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}}  # fmt: skip
    got = from_rekor_body(canonicalize(v2))
    assert got.certificates == (cert_der,) and got.digests == ("sha384:" + "01" * 48,)
    dsse2 = {"kind": "dsse", "apiVersion": "0.0.2", "spec": {"dsseV002": {
        "payloadHash": {"algorithm": "SHA2_256", "digest": _b64(b"\x02" * 32)},
        "signatures": [{"content": "AA==", "verifier": {"publicKey": {"rawBytes": _b64(spki(k))}}}]}}}  # fmt: skip
    got = from_rekor_body(canonicalize(dsse2))
    assert got.keys == (spki(k),) and got.digests == ("sha256:" + "02" * 32,)


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"kind": "x"}', b'{"kind": "helm", "apiVersion": "0.0.1", "spec": {}}',
    b'{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": []}', b"\xff\xfe", b"[" * 100000,
])  # fmt: skip
def test_unreadable_bodies_are_not_errors(body: bytes) -> None:
    got = from_rekor_body(body)
    assert not got.readable and got.certificates == got.keys == got.digests == ()


def test_malformed_fields_give_nothing_rather_than_an_error() -> None:
    spec = {"signature": {"publicKey": {"content": "not base64!"}}, "data": {"hash": "x"}}
    got = from_rekor_body(json.dumps({"kind": "hashedrekord", "apiVersion": "0.0.1",
                                      "spec": spec}).encode())  # fmt: skip
    assert got.readable and got.certificates == got.keys == got.digests == ()
    garbage_pem = _b64(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n")
    spec = {"signature": {"publicKey": {"content": garbage_pem}}}
    assert from_rekor_body(json.dumps({"kind": "hashedrekord", "apiVersion": "0.0.1",
                                       "spec": spec}).encode()).certificates == ()  # fmt: skip


def test_ct_leaves_certificate_and_precertificate() -> None:
    k = key()
    cert = leaf(x509.RFC822Name("a@example.com"), k=k, issuer="https://i.example")
    got = from_ct_leaf(x509_leaf_input(cert))
    assert (got.kind, got.certificates, got.precert) == ("x509_entry", (cert,), False)
    pre = leaf(x509.RFC822Name("p@example.com"), k=k, precert=True, issuer="https://i.example")
    got = from_ct_leaf(precert_leaf_input(pre))
    assert got.kind == "precert_entry" and got.precert
    wrapped = x509.load_der_x509_certificate(got.certificates[0])
    original = x509.load_der_x509_certificate(pre)
    assert wrapped.subject == original.subject and wrapped.serial_number == original.serial_number
    san = wrapped.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["p@example.com"]
    assert spki_of_tbs(certificate_tbs(got.certificates[0])) == spki(k)
    for garbage in (b"", b"\x00\x00" + b"\x00" * 8 + b"\x00\x05", b"\x01" * 20,
                    x509_leaf_input(cert)[:40], precert_leaf_input(pre)[:60]):  # fmt: skip
        assert not from_ct_leaf(garbage).readable


def test_der_helpers_agree_with_cryptography() -> None:
    k = key()
    der = leaf(x509.UniformResourceIdentifier("https://x.example"), k=k)
    cert = x509.load_der_x509_certificate(der)
    assert certificate_tbs(der) == cert.tbs_certificate_bytes
    assert spki_of_tbs(cert.tbs_certificate_bytes) == spki(k)
    rewrapped = x509.load_der_x509_certificate(wrap_tbs(cert.tbs_certificate_bytes))
    assert rewrapped.tbs_certificate_bytes == cert.tbs_certificate_bytes
    for bad in (b"", b"\x30", b"\x31\x00", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01\x01"):
        with pytest.raises(ValueError):
            spki_of_tbs(bad)
        with pytest.raises(ValueError):
            wrap_tbs(bad)
    assert DER  # the encoding the helpers write


def test_certificate_view_agrees_with_cryptography() -> None:
    from sigstack.client.monitor.der import CertificateView, oid_text, string
    from sigstack.protocol import x509ext

    sans = [x509.RFC822Name("a@example.com"), x509.DNSName("h.example"),
            x509.UniformResourceIdentifier("https://u.example/p"),
            x509ext.username_san("sub!example.com"),
            x509.OtherName(x509.ObjectIdentifier("1.2.3.4"), b"\x0c\x01x"),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]  # fmt: skip
    der = leaf(*sans, issuer="https://i.example", github_workflow_ref="refs/heads/main")
    view = CertificateView(der)
    assert view.sans == ["a@example.com", "h.example", "https://u.example/p", "sub!example.com"]
    cert = x509.load_der_x509_certificate(der)
    assert set(view.extensions) == {e.oid.dotted_string for e in cert.extensions}
    assert string(view.extensions["1.3.6.1.4.1.57264.1.8"]) == "https://i.example"
    assert string(view.extensions["1.3.6.1.4.1.57264.1.6"]) == "refs/heads/main"  # raw bytes
    assert CertificateView(leaf()).sans == []
    assert oid_text(bytes.fromhex("2a864886f70d010101")) == "1.2.840.113549.1.1.1"
    assert oid_text(bytes.fromhex("8837")) == "2.999"
    for bad in (b"", der[:50], b"\x30\x00", bytes.fromhex("2a86")):
        with pytest.raises(ValueError):
            CertificateView(bad) if bad[:1] != b"\x2a" else oid_text(bad)
    assert string(b"\xff") is None and string(b"\x0c\x05ab") == "\x0c\x05ab"
