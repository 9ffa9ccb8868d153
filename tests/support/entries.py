"""Real, signed transparency-log entries made with throw-away keys: Rekor v1 proposed entries
(hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2) and Rekor v2 CreateEntryRequests (hashedrekord
0.0.2, also over a DSSE envelope's PAE), with the in-toto statement they carry.

The entries are what clients send; checking what a log answers is ``tests.support.checks``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigstack.protocol import x509ext
from sigstack.protocol.bundle import pae
from sigstack.protocol.canonical import canonicalize
from tests.support.keys import b64, der_public, leaf_certificate, pem_public

INTOTO = "application/vnd.in-toto+json"

# ---- Rekor v1 (services/rekor) -------------------------------------------------------------------


def hashedrekord_entry(digest: bytes, signature: bytes, verifier_pem: bytes) -> dict[str, Any]:
    """A hashedrekord 0.0.1 entry over a SHA-256 ``digest``, verified by ``verifier_pem``."""
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {
                "content": b64(signature),
                "publicKey": {"content": b64(verifier_pem)},
            },
        },
    }


def hashedrekord_body(digest: bytes, signature: bytes, verifier_pem: bytes) -> bytes:
    """That entry as Rekor logs it: its RFC 8785 JSON."""
    return canonicalize(hashedrekord_entry(digest, signature, verifier_pem))


def hashedrekord(
    artifact: bytes,
    key: ec.EllipticCurvePrivateKey | None = None,
    verifier_pem: bytes | None = None,
) -> dict[str, Any]:
    """A hashedrekord 0.0.1 entry over SHA-256(artifact), signed with ``key`` (a new P-256 key by
    default) and verified by its public key or by ``verifier_pem``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return hashedrekord_entry(digest, sig, verifier_pem or pem_public(key))


def statement(digest_hex: str) -> bytes:
    """An in-toto v1 statement about ``a.txt`` with that SHA-256."""
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.txt", "digest": {"sha256": digest_hex}}],
            "predicateType": "https://example.com/test/v1",
            "predicate": {"ok": True},
        }
    ).encode()


def dsse(
    payload: bytes, key: ec.EllipticCurvePrivateKey | None = None, *,
    verifiers: list[bytes] | None = None, keyid: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A dsse 0.0.1 entry: ``payload`` in a signed in-toto envelope, verified by the PEM
    ``verifiers`` (default: the key's public key); ``keyid`` goes into the signature when given."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    sig = key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    signature = {"sig": b64(sig)} if keyid is None else {"sig": b64(sig), "keyid": keyid}
    envelope = json.dumps(
        {"payload": b64(payload), "payloadType": INTOTO, "signatures": [signature]}
    )
    pems = verifiers if verifiers is not None else [pem_public(key)]
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": [b64(p) for p in pems]}},
    }


def intoto(
    payload: bytes, key: ec.EllipticCurvePrivateKey | None = None, verifier_pem: bytes | None = None
) -> dict[str, Any]:
    """An intoto 0.0.2 entry (payload and signature base64 twice, as that type wants), verified
    by the key's public key or by ``verifier_pem``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    sig = key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": INTOTO,
        "payload": b64(b64(payload).encode()),
        "signatures": [
            {"sig": b64(b64(sig).encode()), "publicKey": b64(verifier_pem or pem_public(key))}
        ],
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


# ---- Rekor v2 (services/rekor2) ------------------------------------------------------------------


@dataclass(frozen=True)
class V2Signed:
    """A Rekor v2 CreateEntryRequest and what it was made from."""

    request: dict[str, Any]
    digest: bytes
    signature: bytes
    certificate: x509.Certificate | None  # None: signed with a bare public key
    key: Any  # the private key
    envelope: dict[str, Any] | None = None  # the DSSE envelope (JSON form) logged over its PAE


def v2_request(
    digest: bytes, signature: bytes, verifier_der: bytes, *, certificate: bool = True,
    key_details: str = "PKIX_ECDSA_P256_SHA_256",
) -> dict[str, Any]:  # fmt: skip
    """A hashedrekord 0.0.2 CreateEntryRequest (protojson names) from its parts."""
    holder = "x509Certificate" if certificate else "publicKey"
    return {
        "hashedRekordRequestV002": {
            "digest": b64(digest),
            "signature": {
                "content": b64(signature),
                "verifier": {holder: {"rawBytes": b64(verifier_der)}, "keyDetails": key_details},
            },
        }
    }


def _v2_verifier(
    key: Any, email: str, with_certificate: bool, issuer: str | None = None
) -> tuple[bytes, Any]:
    if with_certificate:
        extensions = x509ext.encode_extensions({"issuer": issuer}) if issuer else []
        cert = leaf_certificate(key, [x509.RFC822Name(email)], extensions)
        return cert.public_bytes(serialization.Encoding.DER), cert
    return der_public(key), None


def v2_hashedrekord(
    artifact: bytes, key: ec.EllipticCurvePrivateKey | None = None, *,
    email: str = "signer@example.com", with_certificate: bool = True, issuer: str | None = None,
) -> V2Signed:  # fmt: skip
    """A P-256 hashedrekord 0.0.2 request over SHA-256(artifact), as sigstore-python sends it;
    with ``issuer``, the certificate carries it as Fulcio's OIDC issuer extension."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    der, cert = _v2_verifier(key, email, with_certificate, issuer)
    request = v2_request(digest, sig, der, certificate=with_certificate)
    return V2Signed(request, digest, sig, cert, key)


def v2_dsse(
    payload: bytes, key: ec.EllipticCurvePrivateKey | None = None, *,
    email: str = "signer@example.com",
) -> V2Signed:  # fmt: skip
    """A DSSE envelope logged the Rekor v2 way: hashedrekord 0.0.2 over SHA-256(PAE)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    encoded = pae(INTOTO, payload)
    sig = key.sign(encoded, ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(encoded).digest()
    der, cert = _v2_verifier(key, email, True)
    envelope = {"payload": b64(payload), "payloadType": INTOTO, "signatures": [{"sig": b64(sig)}]}
    return V2Signed(v2_request(digest, sig, der), digest, sig, cert, key, envelope)


def write_key_bundle(
    directory: Path, signed: V2Signed, entry: Any, timestamp: Any
) -> tuple[Path, Path]:
    """A managed-key v0.3 bundle of ``signed`` (made ``with_certificate=False``) with its log
    ``entry`` and one RFC 3161 ``timestamp``, written to ``directory/bundle.json``, and the key
    that verifies it to ``directory/key.pem``: (bundle, key)."""
    from sigstack.protocol.bundle import (
        MEDIA_TYPE_V03,
        Bundle,
        HashOutput,
        MessageSignature,
        VerificationMaterial,
    )

    bundle = Bundle(
        media_type=MEDIA_TYPE_V03,
        verification_material=VerificationMaterial(
            public_key_hint="", tlog_entries=(entry,), rfc3161_timestamps=(timestamp,)
        ),
        message_signature=MessageSignature(signed.signature, HashOutput("SHA2_256", signed.digest)),
    )
    path, pem = directory / "bundle.json", directory / "key.pem"
    path.write_text(bundle.to_json())
    pem.write_bytes(pem_public(signed.key))
    return path, pem
