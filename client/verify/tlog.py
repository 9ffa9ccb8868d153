"""Transparency-log entry checks: Merkle inclusion proof with a signed checkpoint, the inclusion
promise (SET), and the consistency of the logged body with the bundle.

Log kinds understood: Rekor v1 ``hashedrekord`` 0.0.1, ``dsse`` 0.0.1 and ``intoto`` 0.0.2 (what
sigstore-js' ``attest`` writes: the envelope's signatures double base64-encoded, each with its
signer's PEM, and the payload's SHA-256; the client-computed envelope hash ``content.hash``, which
Rekor stores unchecked, is checked for shape only, as sigstore-js and sigstore-go do), and Rekor v2
``hashedrekord`` 0.0.2 (which also records DSSE envelopes, over their PAE). The SET is the log's signature over the
RFC 8785 JSON ``{"body", "integratedTime", "logID", "logIndex"}``; the checkpoint is a C2SP signed
note whose signature line carries the first four bytes of the entry's log ID (Rekor's rule).

Time: the integrated time becomes a verified time only through ``integrated_time``, which checks
the value's range and verifies the SET first; the log key must be valid (``validFor``) at the
integrated time and at every other verified time. The checkpoint's key must be valid at every
verified time too (a checkpoint carries no time of its own that anyone signed). Both keys must be
the one the entry's ``logId`` names (``keys.Keyring``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol import keys, merkle, rekor
from sigstack.protocol.bundle import DsseEnvelope, TransparencyLogEntry
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import parse_json, strict_b64decode

from .keys import Keyring

# whose signature an entry records: the signing certificate (keyless) or the managed public key
SignerMaterial = x509.Certificate | PublicKeyTypes

# what loading a certificate or key from a log body may raise: not this signer's material
_UNREADABLE = (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm)

INCONSISTENT = "transparency log entry is inconsistent with other materials"


def verify_entry(entry: TransparencyLogEntry, keys: Keyring, times: Sequence[datetime]) -> None:
    """Inclusion proof + checkpoint signed by the entry's log with a key valid at every one of
    ``times`` (the verified signing times). The SET is checked earlier, by ``integrated_time``."""
    if not keys:
        raise VerificationError("the trusted root has no usable transparency log keys")
    proof = entry.inclusion_proof
    if proof is None or not proof.checkpoint:
        raise VerificationError("the log entry has no inclusion proof with a checkpoint")
    kv = entry.kind_version
    if (kv.kind, kv.version) == ("hashedrekord", "0.0.2") and entry.log_index != proof.log_index:
        # Rekor v2 (its only kind): one tree per log, the entry's index is its leaf index (Rekor
        # v1's global index, intoto 0.0.2 entries included, differs from the shard's tree index
        # and is covered by the SET instead)
        raise VerificationError("the log entry's index differs from its inclusion proof's")
    leaf = merkle.leaf_hash(entry.canonicalized_body)
    try:
        merkle.verify_inclusion(
            proof.log_index, proof.tree_size, leaf, proof.hashes, proof.root_hash
        )
    except VerificationError as exc:
        raise VerificationError(f"invalid inclusion proof: {exc.message}") from None
    _verify_checkpoint(entry, keys, times)


def _verify_checkpoint(
    entry: TransparencyLogEntry, keys: Keyring, times: Sequence[datetime]
) -> None:
    from sigstack.protocol.note import verify_rekor_checkpoint

    proof = entry.inclusion_proof
    assert proof is not None and proof.checkpoint is not None
    try:
        candidates = keys.candidates(entry.log_id, at=times)
    except VerificationError as exc:
        raise VerificationError(f"invalid checkpoint: {exc.message}") from None
    checkpoint = None
    reason = "no trusted log key signed it"
    for key in candidates:
        try:
            checkpoint = verify_rekor_checkpoint(proof.checkpoint, entry.log_id, key.key)
            break
        except VerificationError as exc:
            reason = exc.message
    if checkpoint is None:
        raise VerificationError(f"invalid checkpoint: {reason}")
    if checkpoint.root_hash != proof.root_hash:
        raise VerificationError(
            "the checkpoint's root hash differs from the inclusion proof's root hash"
        )
    if checkpoint.size != proof.tree_size:
        raise VerificationError("the checkpoint's tree size differs from the inclusion proof's")


def set_payload(entry: TransparencyLogEntry) -> bytes:
    """What the entry's SET signs (``protocol.rekor.set_payload``, the bytes the log signed)."""
    return rekor.set_payload(base64.b64encode(entry.canonicalized_body).decode(),
                             entry.integrated_time, entry.log_id.hex(), entry.log_index)  # fmt: skip


def integrated_time(
    entry: TransparencyLogEntry, keys: Keyring, others: Sequence[datetime], now: datetime
) -> datetime:
    """The entry's integrated time as a verified time: in range, not after ``now``, and signed by
    the SET with a key of the entry's log valid at it and at the ``others`` verified times."""
    if not entry.inclusion_promise:
        raise VerificationError("the log entry has no inclusion promise (SET)")
    seconds = entry.integrated_time
    if seconds <= 0:
        raise VerificationError(
            "the log entry carries an inclusion promise (SET) but no integrated time"
        )
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise VerificationError(
            f"the log entry's integrated time {seconds} is not a representable time"
        ) from None
    _verify_set(entry, keys, [when, *others])
    if when > now:
        raise VerificationError(
            f"the log entry's integrated time {when.isoformat()} is in the future (is this "
            "machine's clock right?)"
        )
    return when


def _verify_set(entry: TransparencyLogEntry, keys: Keyring, at: Sequence[datetime]) -> None:
    """The SET verifies with a key of the entry's log valid at every time in ``at``."""
    if not entry.inclusion_promise:
        raise VerificationError("the log entry has no inclusion promise (SET)")
    try:
        payload = set_payload(entry)
    except ValidationError:  # RFC 8785 numbers stop at 2**53: no log signed such a payload
        raise VerificationError(
            "invalid inclusion promise (SET): the log index or integrated time is out of range"
        ) from None
    try:
        keys.verify(entry.log_id, entry.inclusion_promise, payload, at=at)
    except VerificationError as exc:
        raise VerificationError(f"invalid inclusion promise (SET): {exc.message}") from None


# --- body consistency -------------------------------------------------------------------------


def _body(entry: TransparencyLogEntry) -> dict[str, Any]:
    try:
        body = parse_json(entry.canonicalized_body, "the log entry body")
    except ValidationError as exc:
        raise VerificationError(exc.message) from None
    if not isinstance(body, dict):
        raise VerificationError("the log entry body is not a JSON object")
    kind, version = entry.kind_version.kind, entry.kind_version.version
    if body.get("kind") != kind or body.get("apiVersion") != version:
        raise VerificationError(INCONSISTENT)
    shape = _SHAPES.get(f"{kind}/{version}")
    if shape is None:
        raise VerificationError(f"unsupported log entry type {kind}/{version}")
    _check_shape(body, shape)
    return body


# The fields each logged body may have (Rekor's schemas: hashedrekord v0.0.1, dsse v0.0.1, and
# Rekor v2's HashedRekordLogEntryV002). A body with anything else says something this verifier
# does not check, so it is refused rather than half-read.
_SHAPES: dict[str, dict[str, frozenset[str]]] = {
    "hashedrekord/0.0.1": {
        "": frozenset({"apiVersion", "kind", "spec"}),
        "spec": frozenset({"data", "signature"}),
        "spec.data": frozenset({"hash"}),
        "spec.data.hash": frozenset({"algorithm", "value"}),
        "spec.signature": frozenset({"content", "publicKey"}),
        "spec.signature.publicKey": frozenset({"content"}),
    },
    "hashedrekord/0.0.2": {
        "": frozenset({"apiVersion", "kind", "spec"}),
        "spec": frozenset({"hashedRekordV002"}),
        "spec.hashedRekordV002": frozenset({"data", "signature"}),
        "spec.hashedRekordV002.data": frozenset({"algorithm", "digest"}),
        "spec.hashedRekordV002.signature": frozenset({"content", "verifier"}),
        "spec.hashedRekordV002.signature.verifier": frozenset(
            {"keyDetails", "x509Certificate", "publicKey"}
        ),
        "spec.hashedRekordV002.signature.verifier.x509Certificate": frozenset({"rawBytes"}),
        "spec.hashedRekordV002.signature.verifier.publicKey": frozenset({"rawBytes"}),
    },
    "dsse/0.0.1": {
        "": frozenset({"apiVersion", "kind", "spec"}),
        "spec": frozenset({"envelopeHash", "payloadHash", "signatures"}),
        "spec.envelopeHash": frozenset({"algorithm", "value"}),
        "spec.payloadHash": frozenset({"algorithm", "value"}),
        "spec.signatures[]": frozenset({"signature", "verifier"}),
    },
    "intoto/0.0.2": {  # Rekor's canonical form: the payload itself is dropped
        "": frozenset({"apiVersion", "kind", "spec"}),
        "spec": frozenset({"content"}),
        "spec.content": frozenset({"envelope", "hash", "payloadHash"}),
        "spec.content.envelope": frozenset({"payloadType", "signatures"}),
        "spec.content.envelope.signatures[]": frozenset({"keyid", "publicKey", "sig"}),
        "spec.content.hash": frozenset({"algorithm", "value"}),
        "spec.content.payloadHash": frozenset({"algorithm", "value"}),
    },
}


def _check_shape(body: Any, shape: dict[str, frozenset[str]], where: str = "") -> None:
    if isinstance(body, list):
        for item in body:
            _check_shape(item, shape, where + "[]")
        return
    if not isinstance(body, dict):
        return
    allowed = shape.get(where)
    if allowed is None or not set(body) <= allowed:
        raise VerificationError(
            f"{INCONSISTENT}: the logged body has fields its entry type does not define"
        )
    for key, value in body.items():
        if isinstance(value, dict | list):
            _check_shape(value, shape, f"{where}.{key}" if where else key)


def _dig(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            raise VerificationError(INCONSISTENT)
        obj = obj[name]
    return obj


def _b64(value: Any) -> bytes:
    try:
        return strict_b64decode(value, "a logged value")
    except ValidationError:
        raise VerificationError(INCONSISTENT) from None


def _same_key_material(pem_b64: Any, signer: SignerMaterial) -> bool:
    """The body's PEM (a certificate or a public key) names the bundle's signer."""
    pem = _b64(pem_b64)
    if isinstance(signer, x509.Certificate):
        try:
            return x509.load_pem_x509_certificate(pem) == signer
        except _UNREADABLE:
            return False
    try:
        key: PublicKeyTypes = serialization.load_pem_public_key(pem)
    except _UNREADABLE:
        try:  # a managed key checked against a certificate-logged entry: compare the keys
            key = x509.load_pem_x509_certificate(pem).public_key()
        except _UNREADABLE:
            return False
    return keys.key_id(key) == keys.key_id(signer)


def check_hashedrekord(
    entry: TransparencyLogEntry, signer: SignerMaterial, signature: bytes, digest: bytes
) -> None:
    """The logged hashedrekord (0.0.1 or 0.0.2) records this digest, signature and signer."""
    if entry.kind_version.kind != "hashedrekord":
        raise VerificationError(f"expected a hashedrekord log entry, got {entry.kind_version.kind}")
    body = _body(entry)
    version = entry.kind_version.version
    if version == "0.0.1":
        spec = _dig(body, "spec")
        ok = (
            _dig(spec, "data", "hash", "algorithm") == "sha256"
            and _dig(spec, "data", "hash", "value") == digest.hex()
            and _b64(_dig(spec, "signature", "content")) == signature
            and _same_key_material(_dig(spec, "signature", "publicKey", "content"), signer)
        )
    elif version == "0.0.2":
        spec = _dig(body, "spec", "hashedRekordV002")
        verifier = _dig(spec, "signature", "verifier")
        if isinstance(signer, x509.Certificate):
            raw = _b64(_dig(verifier, "x509Certificate", "rawBytes"))
            same = raw == signer.public_bytes(serialization.Encoding.DER)
        elif isinstance(verifier, dict) and "x509Certificate" in verifier:
            raw = _b64(_dig(verifier, "x509Certificate", "rawBytes"))
            try:
                same = keys.key_id(x509.load_der_x509_certificate(raw).public_key()) == keys.key_id(
                    signer
                )
            except _UNREADABLE:
                same = False
        else:
            raw = _b64(_dig(verifier, "publicKey", "rawBytes"))
            same = raw == keys.spki_der(signer)
        ok = (
            _dig(spec, "data", "algorithm") == "SHA2_256"
            and _b64(_dig(spec, "data", "digest")) == digest
            and _b64(_dig(spec, "signature", "content")) == signature
            and same
        )
    else:
        raise VerificationError(f"unsupported hashedrekord version {version}")
    if not ok:
        raise VerificationError(INCONSISTENT)


def check_dsse(entry: TransparencyLogEntry, signer: SignerMaterial, envelope: DsseEnvelope) -> None:
    """The logged dsse 0.0.1, intoto 0.0.2 (or Rekor v2 hashedrekord 0.0.2 over the PAE) matches
    the envelope."""
    kind, version = entry.kind_version.kind, entry.kind_version.version
    if kind == "hashedrekord" and version == "0.0.2":
        if len(envelope.signatures) != 1:
            raise VerificationError("a DSSE envelope logged as hashedrekord needs one signature")
        digest = hashlib.sha256(envelope.pae()).digest()
        check_hashedrekord(entry, signer, envelope.signatures[0].sig, digest)
        return
    if kind == "intoto" and version == "0.0.2":
        _check_intoto(entry, signer, envelope)
        return
    if not (kind == "dsse" and version == "0.0.1"):
        raise VerificationError(f"unsupported DSSE log entry type {kind}/{version}")
    spec = _dig(_body(entry), "spec")
    payload_hash = _dig(spec, "payloadHash")
    if _dig(payload_hash, "algorithm") != "sha256":
        raise VerificationError("the DSSE log entry's payload hash is not SHA-256")
    if _dig(payload_hash, "value") != hashlib.sha256(envelope.payload).hexdigest():
        raise VerificationError("the DSSE log entry's payload hash does not match the bundle")
    logged = _dig(spec, "signatures")
    if not isinstance(logged, list) or len(logged) != len(envelope.signatures):
        raise VerificationError("the DSSE log entry's signatures do not match the bundle")
    for item, sig in zip(logged, envelope.signatures, strict=True):
        if _b64(_dig(item, "signature")) != sig.sig or not _same_key_material(
            _dig(item, "verifier"), signer
        ):
            raise VerificationError("the DSSE log entry's signatures do not match the bundle")


def _sha256_hex(obj: Any, what: str) -> str:
    value = _dig(obj, "value")
    if _dig(obj, "algorithm") != "sha256" or not isinstance(value, str):
        raise VerificationError(f"the intoto log entry's {what} is not SHA-256")
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise VerificationError(f"the intoto log entry's {what} is not a SHA-256 hex digest")
    return value


def _check_intoto(
    entry: TransparencyLogEntry, signer: SignerMaterial, envelope: DsseEnvelope
) -> None:
    """intoto 0.0.2 (Rekor ``pkg/types/intoto/v0.0.2``): the payload's SHA-256, the payload type,
    and each signature (base64 of the envelope's base64, as Rekor stores it) with its keyid and
    the signer's PEM, in the envelope's order."""
    content = _dig(_body(entry), "spec", "content")
    _sha256_hex(_dig(content, "hash"), "envelope hash")  # client-computed, stored unchecked
    if (
        _sha256_hex(_dig(content, "payloadHash"), "payload hash")
        != hashlib.sha256(envelope.payload).hexdigest()
    ):
        raise VerificationError("the intoto log entry's payload hash does not match the bundle")
    logged_envelope = _dig(content, "envelope")
    if _dig(logged_envelope, "payloadType") != envelope.payload_type:
        raise VerificationError("the intoto log entry's payload type does not match the bundle")
    logged = _dig(logged_envelope, "signatures")
    if not isinstance(logged, list) or len(logged) != len(envelope.signatures):
        raise VerificationError("the intoto log entry's signatures do not match the bundle")
    for item, sig in zip(logged, envelope.signatures, strict=True):
        try:
            inner = _b64(_dig(item, "sig")).decode("ascii")
        except UnicodeDecodeError:
            raise VerificationError(INCONSISTENT) from None
        keyid = item.get("keyid", "") if isinstance(item, dict) else None
        if (
            _b64(inner) != sig.sig
            or keyid != sig.keyid
            or not _same_key_material(_dig(item, "publicKey"), signer)
        ):
            raise VerificationError("the intoto log entry's signatures do not match the bundle")
