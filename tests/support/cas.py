"""Real Fulcio certificate authorities for the logs' CA-only switch (``trusted_ca_file``): a root
and intermediate made by ``sigstack ca create`` (``services.fulcio.cli.create_ca``) and signing
certificates issued by Fulcio's own ``CertificateAuthority``, exactly as it issues them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.identity import Principal
from sigstack.services.keys import load_signer
from tests.support.keys import cert_builder

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@dataclass(frozen=True)
class FulcioCA:
    directory: Path
    authority: CertificateAuthority

    @property
    def chain_file(self) -> Path:
        return self.directory / "chain.pem"  # intermediate, then root

    @property
    def root_file(self) -> Path:
        return self.directory / "root.pem"

    @property
    def intermediate(self) -> x509.Certificate:
        return self.authority.chain[0]

    @property
    def root(self) -> x509.Certificate:
        return self.authority.chain[-1]

    def leaf(self, key: ec.EllipticCurvePrivateKey, email: str = "alice@example.com") -> Any:
        """A signing certificate for ``key`` as Fulcio issues one (email SAN, OIDC issuer)."""
        principal = Principal(email, x509.RFC822Name(email), {"issuer": "https://oidc.test"})
        builder = self.authority.leaf_builder(principal, key.public_key())
        return self.authority.plain(builder)


def fulcio_ca(directory: Path, common_name: str = "sigstack") -> FulcioCA:
    """A new CA in ``directory``; two of them with the same ``common_name`` have equal names."""
    paths = create_ca(directory, algorithm="ecdsa-p256", common_name=common_name)
    signer = load_signer(f"file:{paths['intermediate-key.pem']}")
    chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    return FulcioCA(directory, CertificateAuthority(signer, chain))


# Fixtures for the logs' CA-only tests: a module that uses them binds them (``ours = cas.ours``).
@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> FulcioCA:
    """Our CA: the one the log is configured to trust."""
    return fulcio_ca(tmp_path_factory.mktemp("ours"))


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> FulcioCA:
    """Another CA with exactly our CA's names: only the signatures tell them apart."""
    return fulcio_ca(tmp_path_factory.mktemp("foreign"))


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(PEM) for c in certs)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(DER)


def issued_by_key(
    issuer: x509.Certificate,
    issuer_key: Any,
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``issuer_key`` under ``issuer``'s name: a CA or a leaf
    (for chains a CA never meant to allow)."""
    minted = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "minted")])
    builder = cert_builder(
        minted, issuer.subject, key.public_key(), dt.timedelta(minutes=10)
    ).add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("mallory@example.com")]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def unlimited_root() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA without a path length constraint, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "unlimited")])
    cert = (
        cert_builder(name, name, key.public_key(), dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key
