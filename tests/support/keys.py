"""Throw-away keys and certificates for tests, and the encodings tests write them in: new keys by
name, PEM/DER public keys, signatures with a key's usual hash, a CSR, a short-lived self-signed
certificate, and a TLS CA with a server certificate for 127.0.0.1.

Everything here is made fresh on each call; keys and certificates copied from real instances live
in tests/data (``tests.support.testdata``).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID


def b64(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode()


def new_key(kind: str) -> Any:
    """A private key: ``ec-p256``, ``ec-p384``, ``ec-p521``, ``rsa-BITS`` or anything else for
    Ed25519."""
    if kind.startswith("ec-"):
        curve = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1, "ec-p521": ec.SECP521R1}[kind]
        return ec.generate_private_key(curve())
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    return ed25519.Ed25519PrivateKey.generate()


def _public(key: Any) -> Any:
    return key.public_key() if hasattr(key, "public_key") else key


def pem_public(key: Any) -> bytes:
    """The PEM SubjectPublicKeyInfo of a private or a public key."""
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def der_public(key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a private or a public key."""
    return _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def default_hash(key: Any) -> hashes.HashAlgorithm | None:
    """The hash a key signs with by default: SHA-256/384/512 by EC curve size, SHA-256 for RSA,
    none for Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None


def sign(key: Any, message: bytes) -> bytes:
    """``message`` signed with ``key`` and its default hash (RSA: PKCS#1 v1.5)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(default_hash(key)))  # type: ignore[arg-type]
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(message)


def csr_pem(key: Any, digest: hashes.HashAlgorithm | None = "default") -> bytes:  # type: ignore[assignment]
    """A PEM CSR with an empty subject and BasicConstraints CA:FALSE, signed with ``digest``."""
    if digest == "default":
        digest = default_hash(key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, digest)
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, lifetime: dt.timedelta
) -> x509.CertificateBuilder:
    """A certificate for ``public_key`` with a random serial, valid from a minute ago for
    ``lifetime``; no extensions yet."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + lifetime)
    )


def leaf_certificate(
    key: ec.EllipticCurvePrivateKey, sans: Sequence[x509.GeneralName],
    extensions: Iterable[x509.ExtensionType] = (),
) -> x509.Certificate:  # fmt: skip
    """A self-signed certificate of ``key`` with ``sans`` (a critical SAN, as Fulcio writes it)
    and ``extensions`` (non-critical), valid for ten minutes."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    builder = cert_builder(name, name, key.public_key(), dt.timedelta(minutes=10)).add_extension(
        x509.SubjectAlternativeName(list(sans)), critical=True
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(key, hashes.SHA256())


def self_signed_cert(key: ec.EllipticCurvePrivateKey, email: str) -> bytes:
    """The PEM of a ``leaf_certificate`` for ``email``."""
    return leaf_certificate(key, [x509.RFC822Name(email)]).public_bytes(serialization.Encoding.PEM)


def tls_pair(tmp: Path) -> tuple[bytes, ssl.SSLContext]:
    """(PEM of a fresh CA, a server SSLContext whose certificate that CA issued for 127.0.0.1);
    the server's files are written in ``tmp``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "internal CA")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    (tmp / "srv.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "srv.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "srv.pem", tmp / "srv.key")
    return ca.public_bytes(serialization.Encoding.PEM), ctx
