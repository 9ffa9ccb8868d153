"""Certificates for the monitor's unit tests: Fulcio-profile leaves (SAN, Sigstore extensions)
issued by a throw-away CA, as DER, and precertificates' TBSCertificates."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.protocol import sct, x509ext

_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitor test CA")])
DER = serialization.Encoding.DER


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def spki(k: Any) -> bytes:
    return k.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def leaf(
    *sans: x509.GeneralName, k: Any = None, precert: bool = False,
    extra: list[x509.UnrecognizedExtension] | None = None, **extensions: str,
) -> bytes:  # fmt: skip
    """A DER leaf with these SANs and Sigstore extensions (by ``protocol.x509ext`` name)."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(_NAME)
        .public_key((k or key()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(minutes=10))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
    for ext in [*x509ext.encode_extensions(extensions), *(extra or [])]:
        builder = builder.add_extension(ext, critical=False)
    if precert:
        builder = builder.add_extension(x509.PrecertPoison(), critical=True)
    return builder.sign(_CA_KEY, hashes.SHA256()).public_bytes(DER)


def precert_leaf_input(cert_der: bytes) -> bytes:
    """The RFC 6962 MerkleTreeLeaf of a precertificate entry for ``cert_der`` (a precert)."""
    tbs = sct.strip_extension_from_tbs(
        x509.load_der_x509_certificate(cert_der).tbs_certificate_bytes
    )
    ikh = hashlib.sha256(spki(_CA_KEY)).digest()
    return sct.merkle_tree_leaf(1234, sct.PRECERT_ENTRY, sct.precert_signed_entry(ikh, tbs), b"")


def x509_leaf_input(cert_der: bytes) -> bytes:
    return sct.merkle_tree_leaf(1234, sct.X509_ENTRY, sct.x509_signed_entry(cert_der), b"")
