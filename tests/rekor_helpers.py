"""Builders for real, signed Rekor entries (throw-away keys) and outside checks with sigstore-python."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pem_public(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def self_signed_cert(key: ec.EllipticCurvePrivateKey, email: str) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def hashedrekord(
    artifact: bytes,
    key: ec.EllipticCurvePrivateKey | None = None,
    verifier_pem: bytes | None = None,
) -> dict[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {
                "content": b64(sig),
                "publicKey": {"content": b64(verifier_pem or pem_public(key))},
            },
        },
    }


def _pae(payload_type: str, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


def statement(digest_hex: str) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.txt", "digest": {"sha256": digest_hex}}],
            "predicateType": "https://example.com/test/v1",
            "predicate": {"ok": True},
        }
    ).encode()


def dsse(payload: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    ptype = "application/vnd.in-toto+json"
    sig = key.sign(_pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
    envelope = json.dumps(
        {"payload": b64(payload), "payloadType": ptype, "signatures": [{"sig": b64(sig)}]}
    )
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": [b64(pem_public(key))]}},
    }


def intoto(payload: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    ptype = "application/vnd.in-toto+json"
    sig = key.sign(_pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": ptype,
        "payload": b64(b64(payload).encode()),
        "signatures": [{"sig": b64(b64(sig).encode()), "publicKey": b64(pem_public(key))}],
    }
    whole = json.dumps(envelope).encode()
    return {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": envelope,
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(whole).hexdigest()},
            }
        },
    }


def sigstore_python_verify(response: dict[str, Any], log_public_der: bytes) -> None:
    """Verify a Rekor v1 LogEntry response with sigstore-python 4.5.1's own code.

    Checks the Merkle inclusion proof, the signed checkpoint and the signed entry timestamp.
    """
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore.models import TransparencyLogEntry
    from sigstore_models.common import v1 as common_v1

    keyring = RekorKeyring(
        Keyring(
            [
                common_v1.PublicKey(
                    raw_bytes=base64.b64encode(log_public_der),
                    key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                )
            ]
        )
    )
    entry = TransparencyLogEntry._from_v1_response(response)
    entry._verify(keyring)


def rekor_types_parse(response: dict[str, Any]) -> None:
    """Parse a response's entries with the sigstore-rekor-types models."""
    import rekor_types
    from pydantic import TypeAdapter

    for value in response.values():
        TypeAdapter(rekor_types.ProposedEntry).validate_json(base64.b64decode(value["body"]))
