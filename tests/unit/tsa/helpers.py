"""Shared by the TSA tests: chains (good ones from ``sigstack tsa create-chain``'s code, crafted
bad ones from a small certificate generator), requests, and the two outside verifiers."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sigstack.services.keys import Signer, load_signer
from sigstack.services.tsa.certs import create_chain

NOW = dt.datetime.now(dt.UTC)
TIMESTAMPING = ExtendedKeyUsageOID.TIME_STAMPING
PEM = serialization.Encoding.PEM


@dataclass
class Chain:
    """A TSA chain on disk: ``chain.pem`` (leaf first) and the leaf's key URI."""

    dir: Path
    key_uri: str
    certs: list[x509.Certificate] = field(default_factory=list)

    @property
    def chain_file(self) -> Path:
        return self.dir / "chain.pem"

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    @property
    def root(self) -> x509.Certificate:
        return self.certs[-1]

    def signer(self) -> Signer:
        return load_signer(self.key_uri)

    def write(self, name: str, certs: list[x509.Certificate]) -> Path:
        path = self.dir / name
        path.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))
        return path


class CountingSigner(Signer):
    """A real key that counts its signatures (to show refusals sign nothing)."""

    def __init__(self, inner: Signer, fail: bool = False) -> None:
        super().__init__(inner.private_key, inner.uri)
        self.count = 0
        self.fail = fail

    def sign(self, message: bytes) -> bytes:
        self.count += 1
        if self.fail:
            raise RuntimeError("token removed")
        return super().sign(message)


def dev_chain(directory: Path, intermediate: bool = False, algorithm: str = "ecdsa-p256") -> Chain:
    paths = create_chain(directory, intermediate=intermediate, algorithm=algorithm)
    certs = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    return Chain(directory, f"file:{paths['leaf-key.pem']}", certs)


# --- a generator of (possibly bad) certificates, for the chain checks -------------------------


def cert(
    cn: str,
    key: Any,
    issuer: tuple[x509.Certificate, Any] | None = None,
    *,
    ca: bool | None = None,
    path_length: int | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    key_usage: dict[str, bool] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    """A certificate for ``key``'s public half, signed by ``issuer`` (cert, private key), or
    self-signed; ``ca=None`` leaves BasicConstraints out, ``eku=None`` the EKU."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    if key_usage is not None:
        usage = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        usage.update(key_usage)
        b = b.add_extension(x509.KeyUsage(**usage), critical=True)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(signing_key, algorithm)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def non_critical_eku_chain(folder: Path) -> tuple[Path, Path, list[x509.Certificate]]:
    """A TSA key and chain the TSA must refuse (a leaf whose timestamping EKU is not critical,
    RFC 3161 section 2.3), written as ``folder/key.pem`` (mode 0600) and ``folder/chain.pem``:
    (key file, chain file, [leaf, root])."""
    root_key, key = ec_key(), ec_key()
    root = cert("root", root_key, ca=True, path_length=0,
                key_usage={"key_cert_sign": True, "crl_sign": True})  # fmt: skip
    leaf = cert("tsa", key, (root, root_key), eku=[TIMESTAMPING], eku_critical=False)
    pem = serialization.Encoding.PEM
    key_file, chain_file = folder / "key.pem", folder / "chain.pem"
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    chain_file.write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
    return key_file, chain_file, [leaf, root]


# --- requests -----------------------------------------------------------------------------------

SHA = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}


def der_request(
    digest: bytes,
    algorithm: str = "sha256",
    *,
    nonce: int | None = None,
    cert_req: bool = False,
    policy: str | None = None,
    null_params: bool = True,
    **extra: Any,
) -> bytes:
    """A DER TimeStampReq made with asn1crypto (``algorithm`` a name or a dotted OID)."""
    alg: dict[str, Any] = {"algorithm": SHA.get(algorithm, algorithm)}
    if not null_params:
        alg["parameters"] = None
    value: dict[str, Any] = {
        "version": 1,
        "message_imprint": {"hash_algorithm": alg, "hashed_message": digest},
    }
    if nonce is not None:
        value["nonce"] = nonce
    if cert_req:
        value["cert_req"] = True
    if policy is not None:
        value["req_policy"] = policy
    value.update(extra)
    return tsp.TimeStampReq(value).dump()  # type: ignore[no-any-return]


# --- outside verifiers --------------------------------------------------------------------------


def verify_rfc3161(
    response: bytes, message: bytes, chain: list[x509.Certificate], nonce: int | None = None
) -> None:
    """What sigstore-python does with a timestamp (rfc3161-client's VerifierBuilder)."""
    from rfc3161_client import VerifierBuilder, decode_timestamp_response

    builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
    for inter in chain[1:-1]:
        builder = builder.add_intermediate_certificate(inter)
    if nonce is not None:
        builder = builder.nonce(nonce)
    assert builder.build().verify_message(decode_timestamp_response(response), message)


def openssl_verify(
    response: Path,
    chain: list[x509.Certificate],
    *,
    query: Path | None = None,
    data: Path | None = None,
    work: Path,
) -> str:
    """``openssl ts -verify`` (nonce and policy too with ``query``); the leaf and intermediates
    go to -untrusted (a reply without certificates needs the leaf there). Returns its output;
    raises with it when verification fails."""
    root = work / "ossl-root.pem"
    root.write_bytes(chain[-1].public_bytes(PEM))
    untrusted = work / "ossl-untrusted.pem"
    untrusted.write_bytes(b"".join(c.public_bytes(PEM) for c in chain[:-1]))
    given = ["-queryfile", str(query)] if query else ["-data", str(data)]
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-in",
            str(response),
            *given,
            "-CAfile",
            str(root),
            "-untrusted",
            str(untrusted),
        ],
        capture_output=True,
        text=True,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Verification: OK" in out, out
    return out
