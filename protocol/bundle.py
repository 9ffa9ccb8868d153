"""Sigstore bundle v0.1, v0.2 and v0.3: frozen models with ``from_json`` / ``to_json``.

Follows ``sigstore_bundle.proto``, ``sigstore_rekor.proto``, ``sigstore_common.proto``
in proto3 JSON form (see ``protojson``): camelCase or snake_case accepted, camelCase written,
int64 written as strings. Media types: ``application/vnd.dev.sigstore.bundle+json;version=0.1`` /
``0.2`` / ``0.3`` and ``application/vnd.dev.sigstore.bundle.v0.3+json`` (the spelling written).

This module checks only the *shape* of a bundle (known media type, exactly one of the content
and key-material alternatives, a non-empty certificate chain, decodable base64). The client
policy that sits on top (exactly one log entry, checkpoints, signed time) and all cryptographic
checks live in ``client.verify``.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ValidationError
from .protojson import Reader, b64, b64decode, loads
from .record import record

MEDIA_TYPE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
MEDIA_TYPE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
MEDIA_TYPE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPE_V03_ALT = "application/vnd.dev.sigstore.bundle+json;version=0.3"

MEDIA_TYPES: dict[str, str] = {
    MEDIA_TYPE_V01: "0.1",
    MEDIA_TYPE_V02: "0.2",
    MEDIA_TYPE_V03: "0.3",
    MEDIA_TYPE_V03_ALT: "0.3",
}

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (DSSE protocol.md)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@record(frozen=True)
class HashOutput:
    algorithm: str  # HashAlgorithm enum name, e.g. "SHA2_256"
    digest: bytes

    @classmethod
    def _read(cls, r: Reader) -> HashOutput:
        return cls(
            algorithm=r.text("algorithm", "HASH_ALGORITHM_UNSPECIFIED"), digest=r.blob("digest")
        )

    def _write(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "digest": b64(self.digest)}


@record(frozen=True)
class MessageSignature:
    signature: bytes
    message_digest: HashOutput | None = None

    @classmethod
    def _read(cls, r: Reader) -> MessageSignature:
        md = r.opt_obj("message_digest")
        return cls(
            signature=r.blob("signature"), message_digest=HashOutput._read(md) if md else None
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.message_digest is not None:
            out["messageDigest"] = self.message_digest._write()
        out["signature"] = b64(self.signature)
        return out


@record(frozen=True)
class DsseSignature:
    sig: bytes
    keyid: str = ""


@record(frozen=True)
class DsseEnvelope:
    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...]

    @classmethod
    def _read(cls, r: Reader) -> DsseEnvelope:
        sigs = tuple(
            DsseSignature(sig=s.blob("sig"), keyid=s.text("keyid", ""))
            for s in r.objs("signatures")
        )
        if not sigs:
            raise ValidationError(f"{r.where('signatures')} must hold at least one signature")
        return cls(payload=r.blob("payload"), payload_type=r.text("payload_type"), signatures=sigs)

    def _write(self) -> dict[str, Any]:
        sigs = []
        for s in self.signatures:
            item = {"sig": b64(s.sig)}
            if s.keyid:
                item["keyid"] = s.keyid
            sigs.append(item)
        return {"payload": b64(self.payload), "payloadType": self.payload_type, "signatures": sigs}

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


@record(frozen=True)
class KindVersion:
    kind: str
    version: str


@record(frozen=True)
class InclusionProof:
    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str | None  # the signed-note text, or None when absent

    @classmethod
    def _read(cls, r: Reader) -> InclusionProof:
        hashes = tuple(
            b64decode(h, f"{r.where('hashes')}[{i}]") for i, h in enumerate(r.array("hashes"))
        )
        cp = r.opt_obj("checkpoint")
        envelope = cp.text("envelope", "") if cp is not None else ""
        return cls(
            log_index=r.integer("log_index"),
            root_hash=r.blob("root_hash"),
            tree_size=r.integer("tree_size"),
            hashes=hashes,
            checkpoint=envelope or None,
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logIndex": str(self.log_index),
            "rootHash": b64(self.root_hash),
            "treeSize": str(self.tree_size),
            "hashes": [b64(h) for h in self.hashes],
        }
        if self.checkpoint:
            out["checkpoint"] = {"envelope": self.checkpoint}
        return out


@record(frozen=True)
class TransparencyLogEntry:
    log_index: int
    log_id: bytes  # LogId.keyId
    kind_version: KindVersion
    integrated_time: int
    canonicalized_body: bytes
    inclusion_promise: bytes | None = None  # signedEntryTimestamp
    inclusion_proof: InclusionProof | None = None

    @classmethod
    def _read(cls, r: Reader) -> TransparencyLogEntry:
        kv = r.obj("kind_version")
        promise = r.opt_obj("inclusion_promise")
        proof = r.opt_obj("inclusion_proof")
        set_ = promise.blob("signed_entry_timestamp", required=False) if promise else b""
        return cls(
            log_index=r.integer("log_index"),
            log_id=r.obj("log_id").blob("key_id"),
            kind_version=KindVersion(kind=kv.text("kind"), version=kv.text("version")),
            integrated_time=r.integer("integrated_time"),
            canonicalized_body=r.blob("canonicalized_body"),
            inclusion_promise=set_ or None,
            inclusion_proof=InclusionProof._read(proof) if proof else None,
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logIndex": str(self.log_index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": self.kind_version.kind, "version": self.kind_version.version},
        }
        if self.integrated_time:
            out["integratedTime"] = str(self.integrated_time)
        if self.inclusion_promise:
            out["inclusionPromise"] = {"signedEntryTimestamp": b64(self.inclusion_promise)}
        if self.inclusion_proof is not None:
            out["inclusionProof"] = self.inclusion_proof._write()
        out["canonicalizedBody"] = b64(self.canonicalized_body)
        return out

    @classmethod
    def from_json(cls, text: str | bytes) -> TransparencyLogEntry:
        return cls._read(Reader(loads(text, "transparency log entry"), "entry"))

    def to_dict(self) -> dict[str, Any]:
        return self._write()


@record(frozen=True)
class VerificationMaterial:
    """Exactly one of ``certificate``, ``x509_certificate_chain`` and ``public_key_hint`` is set."""

    certificate: bytes | None = None  # DER leaf (v0.3)
    x509_certificate_chain: tuple[bytes, ...] | None = None  # DER, leaf first (v0.1/v0.2)
    public_key_hint: str | None = None  # managed-key bundles
    tlog_entries: tuple[TransparencyLogEntry, ...] = ()
    rfc3161_timestamps: tuple[bytes, ...] = ()  # DER TimeStampResp/token, as in the bundle

    @property
    def leaf_certificate(self) -> bytes | None:
        if self.certificate is not None:
            return self.certificate
        if self.x509_certificate_chain:
            return self.x509_certificate_chain[0]
        return None

    @classmethod
    def _read(cls, r: Reader) -> VerificationMaterial:
        present = [n for n in ("certificate", "x509_certificate_chain", "public_key") if r.has(n)]
        if len(present) != 1:
            raise ValidationError(
                f"{r.path} must hold exactly one of certificate, x509CertificateChain, publicKey"
            )
        cert = chain = hint = None
        if present[0] == "certificate":
            cert = r.obj("certificate").blob("raw_bytes")
        elif present[0] == "x509_certificate_chain":
            items = r.obj("x509_certificate_chain").objs("certificates")
            if not items:
                raise ValidationError("expected a non-empty certificate chain in the bundle")
            chain = tuple(c.blob("raw_bytes") for c in items)
        else:
            hint = r.obj("public_key").text("hint", "")
        tsd = r.opt_obj("timestamp_verification_data")
        stamps = (
            tuple(t.blob("signed_timestamp") for t in tsd.objs("rfc3161_timestamps")) if tsd else ()
        )
        return cls(
            certificate=cert,
            x509_certificate_chain=chain,
            public_key_hint=hint,
            tlog_entries=tuple(TransparencyLogEntry._read(e) for e in r.objs("tlog_entries")),
            rfc3161_timestamps=stamps,
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.certificate is not None:
            out["certificate"] = {"rawBytes": b64(self.certificate)}
        elif self.x509_certificate_chain is not None:
            out["x509CertificateChain"] = {
                "certificates": [{"rawBytes": b64(c)} for c in self.x509_certificate_chain]
            }
        else:
            out["publicKey"] = {"hint": self.public_key_hint or ""}
        out["tlogEntries"] = [e._write() for e in self.tlog_entries]
        stamps = [{"signedTimestamp": b64(t)} for t in self.rfc3161_timestamps]
        out["timestampVerificationData"] = {"rfc3161Timestamps": stamps} if stamps else {}
        return out


@record(frozen=True)
class Bundle:
    """A Sigstore bundle. Exactly one of ``message_signature`` / ``dsse_envelope`` is set."""

    media_type: str
    verification_material: VerificationMaterial
    message_signature: MessageSignature | None = None
    dsse_envelope: DsseEnvelope | None = None

    @property
    def version(self) -> str:
        """ "0.1", "0.2" or "0.3"."""
        return MEDIA_TYPES[self.media_type]

    @property
    def signature(self) -> bytes:
        """The signature bytes (the message signature, or the DSSE envelope's only signature)."""
        if self.message_signature is not None:
            return self.message_signature.signature
        assert self.dsse_envelope is not None
        return self.dsse_envelope.signatures[0].sig

    @classmethod
    def from_json(cls, text: str | bytes) -> Bundle:
        """Parse a bundle; raises ``ValidationError`` on any malformed or unknown input."""
        return cls.from_dict(loads(text, "bundle"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Bundle:
        r = Reader(obj, "bundle")
        media_type = r.text("media_type", "")
        if media_type not in MEDIA_TYPES:
            if not media_type and ("base64Signature" in obj or "rekorBundle" in obj):
                raise ValidationError(
                    "this is a legacy cosign bundle, not a Sigstore bundle; re-sign with "
                    "`sigstack sign-blob --bundle` (or `cosign sign-blob --new-bundle-format`)"
                )
            raise ValidationError(f"unsupported bundle media type {media_type!r}")
        content = [n for n in ("message_signature", "dsse_envelope") if r.has(n)]
        if len(content) != 1:
            raise ValidationError("bundle must hold exactly one of messageSignature, dsseEnvelope")
        ms = r.opt_obj("message_signature")
        env = r.opt_obj("dsse_envelope")
        return cls(
            media_type=media_type,
            verification_material=VerificationMaterial._read(r.obj("verification_material")),
            message_signature=MessageSignature._read(ms) if ms else None,
            dsse_envelope=DsseEnvelope._read(env) if env else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "verificationMaterial": self.verification_material._write(),
        }
        if self.message_signature is not None:
            out["messageSignature"] = self.message_signature._write()
        if self.dsse_envelope is not None:
            out["dsseEnvelope"] = self.dsse_envelope._write()
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)
