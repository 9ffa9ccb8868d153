"""Rekor entry types: validate a proposed entry, verify its signatures, build its canonical body.

Supported (kind, apiVersion): hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2. The canonical body is
RFC 8785 JSON of ``{"apiVersion", "kind", "spec"}`` with the reduced spec Rekor stores (section 2 of
spec/rekor.md); it is the leaf the log stores and hashes. ``index_keys`` are the search-index keys
Rekor derives for the entry (key hash, certificate subjects, artifact and payload digests).

Errors: a top-level object that breaks the API schema (not an object, missing or mistyped ``kind``,
``apiVersion`` or ``spec``) is ``SchemaError`` (422); anything wrong inside the spec, including a
signature that does not verify, is ``ValidationError`` (400) with Rekor's "error processing entry"
wording.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigstack.protocol import bundle, strictjson
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.errors import SchemaError, ValidationError

from .verifiers import HASHES, Verifier, b64, b64decode, load_verifier

HEX = re.compile(r"^[0-9a-f]+$")
HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
INTOTO = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class Prepared:
    kind: str
    api_version: str
    body: bytes
    index_keys: tuple[str, ...]
    signers: tuple[Verifier, ...] = ()  # every key or certificate the entry was checked with


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"error processing entry: {what} must be an object")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"error processing entry: {what} must be a non-empty string")
    return value


def _wrap(kind: str, version: str, spec: dict[str, Any]) -> bytes:
    return canonicalize({"apiVersion": version, "kind": kind, "spec": spec})


Checked = tuple[dict[str, Any], list[str], list[Verifier]]  # canonical spec, index keys, signers


def _hashedrekord(spec: dict[str, Any]) -> Checked:
    sig = _obj(spec.get("signature"), "spec.signature")
    data = _obj(spec.get("data"), "spec.data")
    h = _obj(data.get("hash"), "spec.data.hash")
    algorithm = _str(h.get("algorithm"), "spec.data.hash.algorithm")
    value = _str(h.get("value"), "spec.data.hash.value")
    if algorithm not in HEX_LEN:
        raise ValidationError("error processing entry: unsupported hash algorithm")
    if len(value) != HEX_LEN[algorithm] or not HEX.match(value):
        raise ValidationError(
            f"error processing entry: {algorithm} digest must be {HEX_LEN[algorithm]} lower-case hex"
        )
    signature = b64decode(sig.get("content"), "spec.signature.content")
    pk = _obj(sig.get("publicKey"), "spec.signature.publicKey")
    verifier = load_verifier(pk.get("content"), "spec.signature.publicKey.content")
    verifier.verify_digest(signature, bytes.fromhex(value), algorithm)
    canonical = {
        "data": {"hash": {"algorithm": algorithm, "value": value}},
        "signature": {
            "content": b64(signature),
            "publicKey": {"content": b64(verifier.canonical_pem)},
        },
    }
    keys = [verifier.key_hash, *verifier.subjects(), f"{algorithm}:{value}"]
    return canonical, keys, [verifier]


def _intoto_keys(payload_type: str, payload: bytes) -> list[str]:
    """Subject digests and SLSA material digests of an in-toto statement. The payload is the
    submitter's, signed by their own key: whatever it holds (not JSON, nested too deep, a lone
    surrogate, a field of another type) only means fewer index keys, never a refusal."""
    if payload_type != INTOTO:
        return []
    try:
        statement = strictjson.loads(payload, "in-toto statement")
    except ValidationError:
        return []
    if not isinstance(statement, dict):
        return []
    digests = _digests(statement.get("subject"))
    predicate = statement.get("predicate")
    if isinstance(predicate, dict):
        digests += _digests(predicate.get("materials"))
    keys: list[str] = []
    for digest in digests:
        keys += [f"{alg}:{val}".lower() for alg, val in digest.items() if isinstance(val, str)]
    return keys


def _digests(items: Any) -> list[dict[str, Any]]:
    """The ``digest`` maps of a list of in-toto resource descriptors (anything else: none)."""
    if not isinstance(items, list):
        return []
    found = [item.get("digest") for item in items if isinstance(item, dict)]
    return [d for d in found if isinstance(d, dict)]


def _dsse(spec: dict[str, Any]) -> Checked:
    if any(k in spec for k in ("signatures", "envelopeHash", "payloadHash")):
        raise ValidationError("error processing entry: only proposedContent may be sent for dsse")
    proposed = _obj(spec.get("proposedContent"), "spec.proposedContent")
    envelope_text = _str(proposed.get("envelope"), "spec.proposedContent.envelope")
    verifiers_in = proposed.get("verifiers")
    if not isinstance(verifiers_in, list) or not verifiers_in:
        raise ValidationError("error processing entry: at least one verifier is required")
    verifiers = [load_verifier(v, "spec.proposedContent.verifiers[]") for v in verifiers_in]
    try:
        envelope = strictjson.loads(envelope_text, "envelope")
    except ValidationError as exc:
        raise ValidationError(f"error processing entry: {exc.message}") from None
    envelope = _obj(envelope, "envelope")
    payload_type = _str(envelope.get("payloadType"), "envelope.payloadType")
    payload = b64decode(envelope.get("payload"), "envelope.payload")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise ValidationError("error processing entry: envelope has no signatures")
    pae = bundle.pae(payload_type, payload)
    out = []
    for s in sigs:
        sig_b64 = _str(_obj(s, "envelope.signatures[]").get("sig"), "envelope.signatures[].sig")
        raw = b64decode(sig_b64, "envelope.signatures[].sig")
        for v in verifiers:
            try:
                v.verify_message(raw, pae)
            except ValidationError:
                continue
            out.append({"signature": sig_b64, "verifier": b64(v.canonical_pem)})
            break
        else:
            raise ValidationError(
                "error processing entry: a signature in the envelope does not "
                "verify with any of the given verifiers"
            )
    out.sort(key=lambda s: s["signature"])
    payload_hash = hashlib.sha256(payload).hexdigest()
    envelope_hash = hashlib.sha256(envelope_text.encode()).hexdigest()
    canonical = {
        "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
        "payloadHash": {"algorithm": "sha256", "value": payload_hash},
        "signatures": out,
    }
    keys = [f"sha256:{v.key_hash}" for v in verifiers] + [
        s for v in verifiers for s in v.subjects()
    ]
    keys += [
        f"sha256:{payload_hash}",
        f"sha256:{envelope_hash}",
        *_intoto_keys(payload_type, payload),
    ]
    return canonical, keys, verifiers


def _intoto(spec: dict[str, Any]) -> Checked:
    content = _obj(spec.get("content"), "spec.content")
    envelope = _obj(content.get("envelope"), "spec.content.envelope")
    h = _obj(content.get("hash"), "spec.content.hash")
    algorithm = _str(h.get("algorithm"), "spec.content.hash.algorithm")
    value = _str(h.get("value"), "spec.content.hash.value")
    if algorithm != "sha256" or len(value) != 64 or not HEX.match(value):
        raise ValidationError("error processing entry: content.hash must be a sha256 hex digest")
    payload_type = _str(envelope.get("payloadType"), "envelope.payloadType")
    payload_b64 = b64decode(envelope.get("payload"), "envelope.payload").decode("latin-1")
    payload = b64decode(payload_b64, "envelope.payload (inner)")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise ValidationError("error processing entry: envelope has no signatures")
    pae = bundle.pae(payload_type, payload)
    out, keys, signers = [], [], []
    for s in sigs:
        s = _obj(s, "envelope.signatures[]")
        outer = b64decode(s.get("sig"), "envelope.signatures[].sig")
        raw = b64decode(outer.decode("latin-1"), "envelope.signatures[].sig (inner)")
        verifier = load_verifier(s.get("publicKey"), "envelope.signatures[].publicKey")
        verifier.verify_message(raw, pae)
        item = {"publicKey": b64(verifier.canonical_pem), "sig": b64(outer)}
        keyid = s.get("keyid")
        if isinstance(keyid, str) and keyid:
            item["keyid"] = keyid
        out.append(item)
        keys += [f"sha256:{verifier.key_hash}", *verifier.subjects()]
        signers.append(verifier)
    payload_hash = hashlib.sha256(payload).hexdigest()
    canonical = {
        "content": {
            "envelope": {"payloadType": payload_type, "signatures": out},
            "hash": {"algorithm": algorithm, "value": value},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
        }
    }
    keys += [f"sha256:{payload_hash}", *_intoto_keys(payload_type, payload)]
    return canonical, keys, signers


TYPES: dict[tuple[str, str], Callable[[dict[str, Any]], Checked]] = {
    ("hashedrekord", "0.0.1"): _hashedrekord,
    ("dsse", "0.0.1"): _dsse,
    ("intoto", "0.0.2"): _intoto,
}
KINDS = {kind for kind, _ in TYPES}


def prepare_entry(proposed: Any) -> Prepared:
    """Validate a ProposedEntry and return its canonical body and index keys."""
    if not isinstance(proposed, dict):
        raise SchemaError("entry must be a JSON object")
    kind, version, spec = proposed.get("kind"), proposed.get("apiVersion"), proposed.get("spec")
    if not isinstance(kind, str) or not kind:
        raise SchemaError("kind in body is required")
    if not isinstance(version, str) or not re.match(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$", version
    ):
        raise SchemaError("apiVersion in body is required and must be a semantic version")
    if not isinstance(spec, dict):
        raise SchemaError("spec in body is required and must be an object")
    if kind not in KINDS:
        raise ValidationError(f"error processing entry: {kind} is not a supported entry kind")
    handler = TYPES.get((kind, version))
    if handler is None:
        raise ValidationError(f"error processing entry: {kind} version {version} is not supported")
    canonical, keys, signers = handler(spec)
    body = _wrap(kind, version, canonical)
    return Prepared(kind, version, body, _index_keys(keys), tuple(signers))


MAX_INDEX_KEYS = 256  # search-index rows one entry may add (docs/rekor.md)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _index_keys(keys: list[str]) -> tuple[str, ...]:
    """The entry's search-index keys, lower-cased and unique; keys over 512 characters are not
    indexed. Refused before the entry reaches a batch: a key with a control character (a NUL
    cannot be stored in a PostgreSQL text column) and an entry with more than MAX_INDEX_KEYS."""
    unique = tuple(dict.fromkeys(k.lower() for k in keys if k and len(k) <= 512))
    for key in unique:
        if _CONTROL.search(key):
            raise ValidationError(
                "error processing entry: a subject, digest or identity contains a control character"
            )
    if len(unique) > MAX_INDEX_KEYS:
        raise ValidationError(
            f"error processing entry: it would add {len(unique)} search-index keys; the log "
            f"accepts at most {MAX_INDEX_KEYS} search-index keys per entry"
        )
    return unique


__all__ = ["HASHES", "KINDS", "MAX_INDEX_KEYS", "Prepared", "prepare_entry"]
