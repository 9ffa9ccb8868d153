"""cosign's storage formats in OCI registries (spec/clients.md section 2).

Legacy tag scheme: ``sha256-<hex>.sig`` / ``.att`` tags naming an OCI image manifest whose layers
are signatures (simple-signing payloads, or DSSE envelopes for attestations) with the signature,
certificate, chain and Rekor bundle in layer annotations. New format: a v0.3 Sigstore bundle in
the single layer of a manifest with ``artifactType`` ``application/vnd.dev.sigstore.bundle.v0.3+json``
and a ``subject``, found through the referrers API. This module builds and parses those
documents; it does no I/O and no cryptography.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from sigstack.protocol.bundle import DsseEnvelope, DsseSignature, KindVersion, TransparencyLogEntry
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import loads, parse_json, strict_b64decode

from .registry import OCI_MANIFEST

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
ANN_RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"
ANN_PREDICATE_TYPE = "predicateType"
ANN_CONTENT = "dev.sigstore.bundle.content"
ANN_BUNDLE_PREDICATE = "dev.sigstore.bundle.predicateType"
ANN_CREATED = "org.opencontainers.image.created"


def legacy_tag(digest: str, suffix: str) -> str:
    """``sha256:<hex>`` + ``sig`` → ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + "." + suffix


def simple_signing_payload(
    docker_reference: str, digest: str, annotations: dict[str, str] | None
) -> bytes:
    body = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": annotations or None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def check_simple_signing(
    payload: bytes, digest: str, annotations: dict[str, str]
) -> dict[str, Any]:
    """The payload names this manifest digest, has cosign's type, and carries the annotations."""
    try:
        obj = loads(payload, "the signed payload")  # a JSON object, or ValidationError
        critical = obj["critical"]
        kind = critical["type"]
        signed_digest = critical["image"]["docker-manifest-digest"]
    except (ValidationError, KeyError, TypeError):
        raise VerificationError(
            "the signed payload is not a simple-signing JSON document"
        ) from None
    if kind != SIGNATURE_TYPE:
        raise VerificationError(
            f"the signed payload's critical.type is {kind!r}, not {SIGNATURE_TYPE!r}"
        )
    if signed_digest != digest:
        raise VerificationError(
            f"the signature is for manifest {signed_digest}, not for the image's digest {digest}"
        )
    optional = obj.get("optional") or {}
    for key, value in annotations.items():
        if not isinstance(optional, dict) or optional.get(key) != value:
            raise VerificationError(f"the signed payload lacks the annotation {key}={value}")
    return obj


# -- Rekor bundle annotation (cosign pkg/cosign/bundle/rekor.go) ---------------------------------


def rekor_bundle_annotation(entry: TransparencyLogEntry) -> str:
    if not entry.inclusion_promise:
        raise VerificationError("the log entry has no inclusion promise to store in a .sig layer")
    return json.dumps(
        {
            "SignedEntryTimestamp": base64.b64encode(entry.inclusion_promise).decode(),
            "Payload": {
                "body": base64.b64encode(entry.canonicalized_body).decode(),
                "integratedTime": entry.integrated_time,
                "logIndex": entry.log_index,
                "logID": entry.log_id.hex(),
            },
        },
        separators=(",", ":"),
    )


def parse_rekor_bundle(text: str) -> TransparencyLogEntry:
    """The layer's RekorBundle as a log entry with an inclusion promise and no proof."""
    try:
        obj = parse_json(text, "the Rekor bundle annotation")
        payload = obj["Payload"]
        body = strict_b64decode(payload["body"], "body")
        entry_set = strict_b64decode(obj["SignedEntryTimestamp"], "SignedEntryTimestamp")
        log_id = bytes.fromhex(payload["logID"])
        integrated, index = payload["integratedTime"], payload["logIndex"]
        decoded = parse_json(body, "the logged body")
        kind = KindVersion(str(decoded["kind"]), str(decoded["apiVersion"]))
    except (ValidationError, ValueError, KeyError, TypeError):
        raise VerificationError("the signature's Rekor bundle annotation is malformed") from None
    if not isinstance(integrated, int) or not isinstance(index, int):
        raise VerificationError("the signature's Rekor bundle annotation is malformed")
    return TransparencyLogEntry(
        log_index=index,
        log_id=log_id,
        kind_version=kind,
        integrated_time=integrated,
        canonicalized_body=body,
        inclusion_promise=entry_set,
    )


# -- DSSE envelopes as layers ----------------------------------------------------------------------


def envelope_json(env: DsseEnvelope) -> bytes:
    return json.dumps(
        {
            "payloadType": env.payload_type,
            "payload": base64.b64encode(env.payload).decode(),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in env.signatures
            ],
        },
        separators=(",", ":"),
    ).encode()


def parse_envelope(raw: bytes) -> DsseEnvelope:
    try:
        obj = parse_json(raw, "the attestation layer")
        sigs = tuple(
            DsseSignature(strict_b64decode(s["sig"], "sig"), str(s.get("keyid") or ""))
            for s in obj["signatures"]
        )
        return DsseEnvelope(
            strict_b64decode(obj["payload"], "payload"), str(obj["payloadType"]), sigs
        )
    except (ValidationError, ValueError, KeyError, TypeError):
        raise VerificationError("the attestation layer is not a DSSE envelope") from None


# -- manifests ---------------------------------------------------------------------------------


def descriptor(
    media_type: str, data: bytes, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    from .registry import sha256_digest

    out: dict[str, Any] = {
        "mediaType": media_type,
        "size": len(data),
        "digest": sha256_digest(data),
    }
    if annotations:
        out["annotations"] = annotations
    return out


def signature_config(layers: list[dict[str, Any]]) -> bytes:
    """The image config of a signature image: empty, with the layers as uncompressed diff IDs."""
    body = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature_manifest(
    config: bytes, layers: list[dict[str, Any]], annotations: dict[str, str] | None = None
) -> bytes:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers,
    }
    if annotations:
        body["annotations"] = annotations
    return json.dumps(body, separators=(",", ":")).encode()


def referrer_manifest(bundle_json: bytes, subject: dict[str, Any], predicate_type: str) -> bytes:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": OCI_EMPTY, "size": 2, "digest": _EMPTY_DIGEST},
        "layers": [descriptor(BUNDLE_V03, bundle_json)],
        "subject": subject,
        "annotations": {
            ANN_CREATED: created,
            ANN_CONTENT: "dsse-envelope",
            ANN_BUNDLE_PREDICATE: predicate_type,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


EMPTY_BLOB = b"{}"
_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def intoto_statement(
    digest: str, predicate_type: str, predicate: Any, annotations: dict[str, str] | None
) -> bytes:
    """cosign's image statement: one nameless subject with the manifest digest."""
    algo, _, hexdigest = digest.partition(":")
    subject: dict[str, Any] = {"digest": {algo: hexdigest}}
    if annotations:
        subject["annotations"] = annotations
    body = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(body, separators=(",", ":")).encode()
