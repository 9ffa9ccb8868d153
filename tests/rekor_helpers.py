"""Builders for real, signed Rekor entries (throw-away keys) and outside checks with sigstore-python."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from sigstack.protocol.bundle import pae


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
    sig = key.sign(pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
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
    sig = key.sign(pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
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


def _v2_verifier(key: Any, email: str, with_certificate: bool) -> tuple[bytes, Any]:
    if with_certificate:
        pem = self_signed_cert(key, email)
        cert = x509.load_pem_x509_certificate(pem)
        return cert.public_bytes(serialization.Encoding.DER), cert
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der, None


def v2_hashedrekord(
    artifact: bytes, key: ec.EllipticCurvePrivateKey | None = None, *,
    email: str = "signer@example.com", with_certificate: bool = True,
) -> V2Signed:  # fmt: skip
    """A P-256 hashedrekord 0.0.2 request over SHA-256(artifact), as sigstore-python sends it."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    der, cert = _v2_verifier(key, email, with_certificate)
    request = v2_request(digest, sig, der, certificate=with_certificate)
    return V2Signed(request, digest, sig, cert, key)


def v2_dsse(
    payload: bytes, key: ec.EllipticCurvePrivateKey | None = None, *,
    email: str = "signer@example.com",
) -> V2Signed:  # fmt: skip
    """A DSSE envelope logged the Rekor v2 way: hashedrekord 0.0.2 over SHA-256(PAE)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    ptype = "application/vnd.in-toto+json"
    encoded = pae(ptype, payload)
    sig = key.sign(encoded, ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(encoded).digest()
    der, cert = _v2_verifier(key, email, True)
    envelope = {"payload": b64(payload), "payloadType": ptype, "signatures": [{"sig": b64(sig)}]}
    return V2Signed(v2_request(digest, sig, der), digest, sig, cert, key, envelope)


def _unrelated_timestamp() -> Any:
    """A real RFC 3161 answer (staging): sigstore-python's bundle constructor wants a time source
    before it lets the body checks run; those checks never look at it."""
    from rfc3161_client import decode_timestamp_response

    from tests.testdata import ROOT

    path = ROOT / "tests/data/pyassets/cases/staging-rekor-v2-happy-path/bundle.sigstore.json"
    material = json.loads(path.read_text())["verificationMaterial"]
    raw = material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
    return decode_timestamp_response(base64.b64decode(raw))


def sigstore_python_verify_v2(
    response: dict[str, Any], log_public_der: bytes, key_details: str,
    signed: V2Signed | None = None,
) -> None:  # fmt: skip
    """Verify a Rekor v2 TransparencyLogEntry answer with sigstore-python 4.5.1's own code.

    The entry is read as sigstore-python's RekorV2Client reads it, then its inclusion proof and
    signed checkpoint are verified (``TransparencyLogEntry._verify``). With ``signed`` (made with
    a certificate), the logged body is also checked against the signature, digest and certificate
    by the functions sigstore-python's Verifier runs for hashedrekord 0.0.2 entries (DSSE ones too).
    """
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore.models import TransparencyLogEntry
    from sigstore_models.common import v1 as common_v1
    from sigstore_models.rekor.v1 import TransparencyLogEntry as InnerEntry

    keyring = RekorKeyring(
        Keyring(
            [
                common_v1.PublicKey(
                    raw_bytes=base64.b64encode(log_public_der),
                    key_details=common_v1.PublicKeyDetails(key_details),
                )
            ]
        )
    )
    entry = TransparencyLogEntry(InnerEntry.from_dict(response))
    entry._verify(keyring)
    if signed is None:
        return
    assert signed.certificate is not None, "sigstore-python verifies certificate entries only"
    from sigstore import dsse
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import verifier as sp_verifier
    from sigstore_models.bundle.v1 import MessageSignature

    stamp = [_unrelated_timestamp()]
    if signed.envelope is not None:
        envelope = dsse.Envelope._from_json(json.dumps(signed.envelope))
        bundle = Bundle._from_parts(signed.certificate, envelope, entry, signed_timestamp=stamp)
        sp_verifier._validate_hashedrekord_v002_dsse_entry_body(bundle)
        return
    sha256 = common_v1.HashAlgorithm.SHA2_256
    content = MessageSignature(
        message_digest=common_v1.HashOutput(algorithm=sha256, digest=b64(signed.digest)),
        signature=b64(signed.signature),
    )
    bundle = Bundle._from_parts(signed.certificate, content, entry, signed_timestamp=stamp)
    sp_verifier._validate_hashedrekord_v002_entry_body(
        bundle, Hashed(algorithm=sha256, digest=signed.digest)
    )


def our_verify_v2(
    response: dict[str, Any], log_public_der: bytes, key_details: str, log_id: bytes,
    signed: V2Signed | None = None,
) -> None:  # fmt: skip
    """Verify a Rekor v2 TransparencyLogEntry answer with sigstack's own verifier (client/verify):
    inclusion proof, checkpoint signed by the trusted log key named by ``log_id``, and, with
    ``signed``, the logged body against the signature, digest and signer."""
    from sigstack.client.verify.keys import Keyring
    from sigstack.client.verify.tlog import check_dsse, check_hashedrekord, verify_entry
    from sigstack.protocol.bundle import DsseEnvelope, DsseSignature, TransparencyLogEntry
    from sigstack.protocol.trust import PublicKey, TransparencyLogInstance

    entry = TransparencyLogEntry.from_json(json.dumps(response))
    log = TransparencyLogInstance(
        base_url="http://rekor2.test",
        hash_algorithm="SHA2_256",
        public_key=PublicKey(raw_bytes=log_public_der, key_details=key_details),
        log_id=log_id,
    )
    now = datetime.datetime.now(datetime.UTC)
    verify_entry(entry, Keyring((log,), now), [now])
    if signed is None:
        return
    signer = signed.certificate or signed.key.public_key()
    if signed.envelope is not None:
        sigs = tuple(DsseSignature(sig=base64.b64decode(s["sig"]), keyid="")
                     for s in signed.envelope["signatures"])  # fmt: skip
        envelope = DsseEnvelope(payload=base64.b64decode(signed.envelope["payload"]),
                                payload_type=signed.envelope["payloadType"], signatures=sigs)  # fmt: skip
        check_dsse(entry, signer, envelope)
    else:
        check_hashedrekord(entry, signer, signed.signature, signed.digest)
