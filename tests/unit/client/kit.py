"""A throw-away Sigstore instance for tests: a CA, a CT log key that signs SCTs, a log key that
signs SETs and checkpoints, and a builder of v0.3 bundles over them. Every part can be swapped
to build the adversarial cases (a different key, a shifted time, a tampered byte)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sigstack.protocol import merkle, note, x509ext
from sigstack.protocol.bundle import (
    MEDIA_TYPE_V03,
    Bundle,
    DsseEnvelope,
    DsseSignature,
    HashOutput,
    InclusionProof,
    KindVersion,
    MessageSignature,
    TransparencyLogEntry,
    VerificationMaterial,
    pae,
)
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    CertificateAuthority,
    PublicKey,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)
from tests.support.entries import hashedrekord_body
from tests.support.keys import der_public, pem_public

IDENTITY = "alice@example.com"
ISSUER = "https://issuer.example.com"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def pem(cert_or_key: Any) -> bytes:
    """A certificate's PEM, or a key's PEM SubjectPublicKeyInfo."""
    if isinstance(cert_or_key, x509.Certificate):
        return cert_or_key.public_bytes(serialization.Encoding.PEM)
    return pem_public(cert_or_key)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstack-test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_ca(key: ec.EllipticCurvePrivateKey, cn: str = "test-root") -> x509.Certificate:
    now = datetime.now(UTC)
    pub = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .sign(key, hashes.SHA384())
    )


def sct_extension(log_id: bytes, millis: int, signature: bytes) -> x509.UnrecognizedExtension:
    sct = (
        b"\x00"
        + log_id
        + struct.pack(">QH", millis, 0)
        + bytes([4, 3])
        + struct.pack(">H", len(signature))
        + signature
    )
    tls = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
    der = bytes([0x04, 0x81, len(tls)]) if len(tls) >= 0x80 else bytes([0x04, len(tls)])
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), der + tls)


@dataclass
class Kit:
    ca_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    ct_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    log_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    ca: x509.Certificate | None = None

    def __post_init__(self) -> None:
        if self.ca is None:
            self.ca = make_ca(self.ca_key)

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(der_public(self.log_key)).digest()

    def trusted_root(self, **changes: Any) -> TrustedRoot:
        assert self.ca is not None
        start = TimeRange(EPOCH)

        def log(key: Any) -> TransparencyLogInstance:
            raw = der_public(key)
            return TransparencyLogInstance(
                base_url="https://log.test",
                hash_algorithm="SHA2_256",
                public_key=PublicKey(raw, "PKIX_ECDSA_P256_SHA_256", start),
                log_id=hashlib.sha256(raw).digest(),
            )

        root = TrustedRoot(
            media_type=TRUSTED_ROOT_V01,
            tlogs=(log(self.log_key),),
            certificate_authorities=(
                CertificateAuthority(
                    cert_chain=(self.ca.public_bytes(serialization.Encoding.DER),),
                    valid_for=start,
                ),
            ),
            ctlogs=(log(self.ct_key),),
        )
        return dataclasses.replace(root, **changes)

    def leaf(
        self,
        key: Any,
        identity: str = IDENTITY,
        issuer: str = ISSUER,
        not_before: datetime | None = None,
        eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
        ct_key: ec.EllipticCurvePrivateKey | None = None,
        sct_time: datetime | None = None,
    ) -> x509.Certificate:
        """A Fulcio-like leaf valid for 10 minutes from ``not_before`` (default: a minute ago),
        with an SCT signed by ``ct_key`` at ``sct_time`` (default: ``not_before``)."""
        assert self.ca is not None
        start = not_before or datetime.now(UTC) - timedelta(minutes=1)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key() if hasattr(key, "public_key") else key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
        )
        for ext in x509ext.encode_extensions({"issuer_v1": issuer, "issuer": issuer}):
            builder = builder.add_extension(ext, critical=False)
        precert = builder.sign(self.ca_key, hashes.SHA384())
        signer = ct_key or self.ct_key
        millis = int((sct_time or start).timestamp() * 1000)
        tbs = precert.tbs_certificate_bytes
        issuer_hash = hashlib.sha256(der_public(self.ca_key)).digest()
        signed = (
            struct.pack(">BBQH", 0, 0, millis, 1)
            + issuer_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + b"\x00\x00"
        )
        sig = signer.sign(signed, ec.ECDSA(hashes.SHA256()))
        ct_id = hashlib.sha256(der_public(signer)).digest()
        return builder.add_extension(sct_extension(ct_id, millis, sig), critical=False).sign(
            self.ca_key, hashes.SHA384()
        )

    def log_entry(
        self,
        body: bytes,
        integrated_time: int | None = None,
        log_key: ec.EllipticCurvePrivateKey | None = None,
        kind: str = "hashedrekord",
        with_set: bool = True,
    ) -> TransparencyLogEntry:
        key = log_key or self.log_key
        log_id = hashlib.sha256(der_public(key)).digest()
        leaves = [merkle.leaf_hash(b"other %d" % i) for i in range(6)]
        index = 4
        leaves.insert(index, merkle.leaf_hash(body))
        size = len(leaves)

        def subtree(start: int, end: int) -> bytes:
            return merkle.root_of(leaves[start:end])

        proof = merkle.inclusion_proof(index, size, subtree)
        root = merkle.root_of(leaves)
        checkpoint = note.Checkpoint(origin="log.test - 42", size=size, root_hash=root)
        text = note.sign_checkpoint(
            checkpoint,
            "log.test",
            log_id[:4],
            lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())),
        )
        itime = int(datetime.now(UTC).timestamp()) if integrated_time is None else integrated_time
        entry = TransparencyLogEntry(
            log_index=1000 + index,
            log_id=log_id,
            kind_version=KindVersion(kind, "0.0.1"),
            integrated_time=itime,
            canonicalized_body=body,
            inclusion_proof=InclusionProof(index, root, size, tuple(proof), text),
        )
        if with_set:
            payload = canonicalize(
                {
                    "body": base64.b64encode(body).decode(),
                    "integratedTime": itime,
                    "logID": log_id.hex(),
                    "logIndex": entry.log_index,
                }
            )
            entry = dataclasses.replace(
                entry, inclusion_promise=key.sign(payload, ec.ECDSA(hashes.SHA256()))
            )
        return entry

    def sign_blob(
        self, data: bytes, integrated_time: int | None = None, **leaf_args: Any
    ) -> tuple[Bundle, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(key, **leaf_args)
        digest = hashlib.sha256(data).digest()
        sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        body = hashedrekord_body(digest, sig, pem(cert))
        bundle = Bundle(
            media_type=MEDIA_TYPE_V03,
            verification_material=VerificationMaterial(
                certificate=cert.public_bytes(serialization.Encoding.DER),
                tlog_entries=(self.log_entry(body, integrated_time),),
            ),
            message_signature=MessageSignature(sig, HashOutput("SHA2_256", digest)),
        )
        return bundle, key

    def sign_with_key(self, data: bytes, key: Any) -> Bundle:
        """A managed-key bundle (``publicKey`` hint, the key's PEM in the log body)."""
        digest = hashlib.sha256(data).digest()
        sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        body = hashedrekord_body(digest, sig, pem(key.public_key()))
        return Bundle(
            media_type=MEDIA_TYPE_V03,
            verification_material=VerificationMaterial(
                public_key_hint="test-key", tlog_entries=(self.log_entry(body),)
            ),
            message_signature=MessageSignature(sig, HashOutput("SHA2_256", digest)),
        )

    def attest(self, statement: dict[str, Any] | bytes) -> Bundle:
        """A DSSE bundle logged as ``dsse`` 0.0.1; ``statement`` as a dict, or the payload bytes."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(key)
        payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
        ptype = "application/vnd.in-toto+json"
        sig = key.sign(pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
        body = canonicalize(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {"algorithm": "sha256", "value": "00" * 32},
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(payload).hexdigest(),
                    },
                    "signatures": [
                        {
                            "signature": base64.b64encode(sig).decode(),
                            "verifier": base64.b64encode(pem(cert)).decode(),
                        }
                    ],
                },
            }
        )
        return Bundle(
            media_type=MEDIA_TYPE_V03,
            verification_material=VerificationMaterial(
                certificate=cert.public_bytes(serialization.Encoding.DER),
                tlog_entries=(self.log_entry(body, kind="dsse"),),
            ),
            dsse_envelope=DsseEnvelope(payload, ptype, (DsseSignature(sig),)),
        )
