"""Request builders and certificate checks shared by the Fulcio tests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import sct as ctsct
from sigstack.protocol import x509ext


def new_key(kind: str) -> Any:
    if kind.startswith("ec-"):
        curve = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1, "ec-p521": ec.SECP521R1}[kind]
        return ec.generate_private_key(curve())
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    return ed25519.Ed25519PrivateKey.generate()


def default_hash(key: Any) -> hashes.HashAlgorithm | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None


def sign(key: Any, message: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(default_hash(key)))  # type: ignore[arg-type]
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(message)


def csr_pem(key: Any, digest: hashes.HashAlgorithm | None = "default") -> bytes:  # type: ignore[assignment]
    if digest == "default":
        digest = default_hash(key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, digest)
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def pub_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v2_csr_body(csr: bytes, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"certificateSigningRequest": b64(csr)}
    if token is not None:
        body["credentials"] = {"oidcIdentityToken": token}
    return body


def v2_key_body(key: Any, proof: bytes, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pub_pem(key)},
            "proofOfPossession": b64(proof),
        }
    }
    if token is not None:
        body["credentials"] = {"oidcIdentityToken": token}
    return body


def check_leaf(
    pem_chain: list[str], ca_chain: list[x509.Certificate], ct_key: Any, client_key: Any
) -> x509.Certificate:
    """Assert the section 3 profile and the section 6 SCT; return the leaf."""
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in pem_chain]
    assert [c.fingerprint(hashes.SHA256()) for c in certs[1:]] == [
        c.fingerprint(hashes.SHA256()) for c in ca_chain
    ]
    leaf = certs[0]
    assert all(not p.endswith("\n") for p in pem_chain)
    assert len(leaf.subject.rdns) == 0
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(minutes=10)
    assert 0 < leaf.serial_number < 1 << 159
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    assert leaf.public_key().public_bytes(enc, pub) == client_key.public_key().public_bytes(
        enc, pub
    )
    exts = leaf.extensions
    ku = exts.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = exts.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING] and not eku.critical
    san = exts.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and len(list(san.value)) == 1
    aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca_chain[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    oids = [e.oid.dotted_string for e in exts]
    assert oids[-1] == ctsct.OID_SCT_LIST.dotted_string
    with_basic = [e.oid for e in exts if e.oid == x509.oid.ExtensionOID.BASIC_CONSTRAINTS]
    assert not with_basic
    values = x509ext.decode_extensions(leaf)
    assert values["issuer_v1"] and values["issuer"] and values["token_subject"]
    # exactly one SCT, signed by the CT log over the precert entry (section 6.3)
    scts = ctsct.scts_from_certificate(leaf)
    assert len(scts) == 1
    issuer_spki = ca_chain[0].public_key().public_bytes(enc, pub)
    data = ctsct.precert_signed_data(
        scts[0].timestamp,
        hashlib.sha256(issuer_spki).digest(),
        leaf.tbs_precertificate_bytes,
        scts[0].extensions,
    )
    scts[0].verify(ct_key, data)
    assert scts[0].log_id == ctsct.log_id(ct_key)
    leaf.verify_directly_issued_by(ca_chain[0])
    return leaf


def san_value(leaf: x509.Certificate) -> Any:
    name = list(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)[0]
    if isinstance(name, x509.OtherName):
        return x509ext.decode_username_san(name)
    return name.value


def refused(resp: Any, message: str, status: int = 400, code: int = 3) -> None:
    """``resp`` is Fulcio's error answer: ``status`` and the gRPC-style body with ``message``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json() == {"code": code, "message": message, "details": []}
