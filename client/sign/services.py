"""Clients of the signing services: Fulcio v2 (``POST /api/v2/signingCert``), Rekor v1
(``POST /api/v1/log/entries``, hashedrekord 0.0.1 and dsse 0.0.1), Rekor v2
(``POST /api/v2/log/entries``, hashedrekord 0.0.2 — for DSSE over the envelope's PAE, as
sigstore-python and cosign log it) and RFC 3161 timestamp authorities (SHA-256 imprint of the
signature, a nonce, certReq: what sigstore-python sends). Each call is one request over
``client.http``; answers are parsed into protocol models or raise with the service's reason.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol.bundle import InclusionProof, KindVersion, TransparencyLogEntry
from sigstack.protocol.errors import UnavailableError, ValidationError
from sigstack.protocol.protojson import Reader

from ..http import join, json_request, request

# Fulcio's message for every refused token (fulcio.md section 1.8)
TOKEN_REFUSED = "error processing the identity token"  # noqa: S105 - not a secret


def _origin(url: str) -> str:
    """Fulcio's API paths are absolute: keep only scheme://host[:port] (as sigstore-python)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified and best effort: for explaining a refusal only."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _token_refused(message: str, token: str, request_id: str) -> str:
    """Fulcio answers every refused token with one message (as upstream Fulcio does) and logs the
    reason; say what usually causes it and where the reason is."""
    claims = _claims(token)
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        left = exp - time.time()
        expiry = (f"it expired {-left:.0f}s ago" if left <= 0
                  else f"it expires in {left:.0f}s; a clock behind Fulcio's makes it look fresh")  # fmt: skip
    else:
        expiry = "it has no expiry time"
    return (
        f"{message}.\nFulcio does not say why; its log does, under request id {request_id}. "
        "Check that:\n"
        f"  - the token has not expired ({expiry}): get a fresh one;\n"
        f"  - its audience ({claims.get('aud')!r}) is the ClientID Fulcio has for its issuer "
        "('sigstore' unless configured otherwise);\n"
        f"  - its issuer ({claims.get('iss')!r}) is in Fulcio's OIDCIssuers, byte for byte, and "
        "Fulcio can fetch that issuer's keys;\n"
        "  - the token is unaltered and signed with a key the issuer still publishes."
    )


def request_certificate(
    fulcio_url: str, key: ec.EllipticCurvePrivateKey, token: str
) -> list[x509.Certificate]:
    """A short-lived code-signing certificate for ``key``; returns [leaf, ..., root-most]."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    request_id = "sigstack-" + secrets.token_hex(12)  # Fulcio logs its reasons under this id
    try:
        answer = json_request(
            "POST",
            join(_origin(fulcio_url), "/api/v2/signingCert"),
            {"certificateSigningRequest": base64.b64encode(pem).decode()},
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
            what="Fulcio",
        )
    except ValidationError as exc:
        if TOKEN_REFUSED in exc.message:
            raise ValidationError(_token_refused(exc.message, token, request_id)) from None
        raise
    if not isinstance(answer, dict):
        raise UnavailableError("Fulcio answered with something unexpected")
    if "signedCertificateEmbeddedSct" not in answer:
        raise ValidationError(
            "Fulcio returned a certificate without an embedded SCT; this client needs a Fulcio "
            "that runs with a CT log"
        )
    try:
        pems = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UnavailableError("Fulcio's certificate chain could not be read") from None
    if len(chain) < 2:
        raise UnavailableError("Fulcio returned no issuer certificate with the leaf")
    return chain


def _entry_from_v1(answer: object) -> TransparencyLogEntry:
    if not isinstance(answer, dict) or len(answer) != 1:
        raise UnavailableError("Rekor answered with something other than one log entry")
    ((_, entry),) = answer.items()
    try:
        body = base64.b64decode(entry["body"])
        kind_body = json.loads(body)
        verification = entry["verification"]
        proof = verification.get("inclusionProof")
        if not proof or not proof.get("checkpoint"):
            raise UnavailableError("Rekor returned no inclusion proof with a checkpoint")
        return TransparencyLogEntry(
            log_index=int(entry["logIndex"]),
            log_id=bytes.fromhex(entry["logID"]),
            kind_version=KindVersion(kind_body["kind"], kind_body["apiVersion"]),
            integrated_time=int(entry["integratedTime"]),
            canonicalized_body=body,
            inclusion_promise=base64.b64decode(verification["signedEntryTimestamp"]),
            inclusion_proof=InclusionProof(
                log_index=int(proof["logIndex"]),
                root_hash=bytes.fromhex(proof["rootHash"]),
                tree_size=int(proof["treeSize"]),
                hashes=tuple(bytes.fromhex(h) for h in proof.get("hashes") or ()),
                checkpoint=proof["checkpoint"],
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UnavailableError("Rekor's log entry could not be read") from None


def upload_entry(rekor_url: str, proposed: dict[str, Any]) -> TransparencyLogEntry:
    """Log a proposed entry on a Rekor v1 API; returns the entry with SET and inclusion proof."""
    answer = json_request(
        "POST", join(rekor_url, "/api/v1/log/entries"), proposed, ok=(201,), what="Rekor"
    )
    return _entry_from_v1(answer)


REKOR_V2_TIMEOUT = 30.0  # a v2 log answers once a checkpoint covers the entry (rekor-tiles: 20 s)


def upload_entry_v2(rekor_url: str, proposed: dict[str, Any]) -> TransparencyLogEntry:
    """Log a ``CreateEntryRequest`` on a Rekor v2 API; returns the ``TransparencyLogEntry`` it
    answers (an inclusion proof with a checkpoint, no SET, integrated time 0)."""
    status, raw = request(
        "POST",
        join(rekor_url, "/api/v2/log/entries"),
        json.dumps(proposed).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"},
        timeout=REKOR_V2_TIMEOUT,
    )
    if status != 201:
        try:
            detail = str(json.loads(raw).get("message") or "")
        except (ValueError, AttributeError):
            detail = ""
        if status >= 500:
            raise UnavailableError(f"Rekor v2 answered HTTP {status} {detail}".rstrip())
        raise ValidationError(f"Rekor v2 refused the entry (HTTP {status}) {detail}".rstrip())
    try:
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            raise ValueError
        entry = TransparencyLogEntry._read(Reader(answer, "entry"))
    except (ValueError, ValidationError):
        raise UnavailableError("Rekor v2's log entry could not be read") from None
    if entry.kind_version != KindVersion("hashedrekord", "0.0.2"):
        raise UnavailableError(
            f"Rekor v2 logged a {entry.kind_version.kind} {entry.kind_version.version} entry, "
            "not the hashedrekord 0.0.2 that was sent"
        )
    if entry.inclusion_proof is None or not entry.inclusion_proof.checkpoint:
        raise UnavailableError("Rekor v2 returned no inclusion proof with a checkpoint")
    return entry


def hashedrekord_v2(digest: bytes, signature: bytes, cert_der: bytes) -> dict[str, Any]:
    """A Rekor v2 ``CreateEntryRequest`` for a SHA-256 digest signed with a P-256 key."""
    return {
        "hashedRekordRequestV002": {
            "digest": base64.b64encode(digest).decode(),
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "verifier": {
                    "x509Certificate": {"rawBytes": base64.b64encode(cert_der).decode()},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                },
            },
        }
    }


def hashedrekord(digest_hex: str, signature: bytes, cert_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(cert_pem).decode()},
            },
        },
    }


def dsse_entry(envelope_json: str, cert_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope_json,
                "verifiers": [base64.b64encode(cert_pem).decode()],
            }
        },
    }


def timestamp(tsa_url: str, signature: bytes) -> bytes:
    """An RFC 3161 timestamp over ``signature``: a SHA-256 imprint (rfc3161-client's builder
    defaults to SHA-512; every Sigstore client sends SHA-256), a nonce and certReq, as
    sigstore-python 4.5.1 asks; DER response bytes."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

    req = (
        TimestampRequestBuilder()
        .data(signature)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    status, raw = request(
        "POST",
        tsa_url,
        req.as_bytes(),
        {"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    if status != 200:
        raise UnavailableError(f"the timestamp authority answered HTTP {status}")
    try:
        response = decode_timestamp_response(raw)
        info = response.tst_info
        answered = (response.status, info.message_imprint.message, info.nonce)
    except ValueError:
        raise UnavailableError("the timestamp authority's answer is not a timestamp") from None
    if answered != (0, req.message_imprint.message, req.nonce):
        raise UnavailableError(
            "the timestamp authority's answer is not a granted timestamp over this signature "
            "with this request's nonce"
        )
    return raw
