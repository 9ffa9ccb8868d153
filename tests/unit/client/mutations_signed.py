"""Mutations that keep every signature valid, so that only the verifier's semantic checks can
refuse them (``mutations`` has the byte-level ones): bundles re-built and re-signed with the keys
of the throw-away instance (``kit``) — integrated times and SCTs moved in time, checkpoints for
another tree, proofs for another leaf, bodies for another artifact, signature or certificate,
other entry kinds, rogue logs, CT logs and CAs, DSSE envelopes that say something else — and
trusted roots changed under real bundles (every key window moved away from the signing time,
keys of another instance, no keys at all)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.client.verify import Artifact, IdentityPolicy
from sigstack.protocol import note
from sigstack.protocol.bundle import (
    MEDIA_TYPE_V03,
    Bundle,
    DsseEnvelope,
    DsseSignature,
    HashOutput,
    KindVersion,
    MessageSignature,
    TransparencyLogEntry,
    VerificationMaterial,
    pae,
)
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.trust import TimeRange, TrustedRoot
from tests.support.entries import hashedrekord_body
from tests.support.keys import der_public

from .kit import IDENTITY, ISSUER, Kit, pem
from .mutations import KIT_DATA, Mutant, Seed, allowed_for, with_root

DIGEST = hashlib.sha256(KIT_DATA).digest()
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)
RETIRED = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 6, 1, tzinfo=UTC))


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sign_set(key: Any, entry: TransparencyLogEntry) -> TransparencyLogEntry:
    payload = canonicalize({"body": base64.b64encode(entry.canonicalized_body).decode(),
                            "integratedTime": entry.integrated_time,
                            "logID": entry.log_id.hex(), "logIndex": entry.log_index})  # fmt: skip
    return dataclasses.replace(
        entry, inclusion_promise=key.sign(payload, ec.ECDSA(hashes.SHA256()))
    )


def _checkpoint(kit: Kit, size: int, root: bytes, key: Any = None) -> str:
    key = key or kit.log_key
    log_id = hashlib.sha256(der_public(key)).digest()
    return note.sign_checkpoint(
        note.Checkpoint(origin="log.test - 42", size=size, root_hash=root), "log.test",
        log_id[:4], lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())),
    )  # fmt: skip


def _blob_bundle(
    kit: Kit,
    *,
    leaf_args: dict[str, Any] | None = None,
    body: bytes | None = None,
    entry: Any = None,
    digest: bytes = DIGEST,
    signed_digest: bytes | None = None,
) -> Bundle:
    """A message-signature bundle over ``digest``; every part may be replaced: the leaf's
    arguments, the logged body, the entry (a function of the body), the digest actually signed."""
    key = _ec()
    cert = kit.leaf(key, **(leaf_args or {}))
    sig = key.sign(signed_digest or digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    body = body if body is not None else hashedrekord_body(digest, sig, pem(cert))
    tlog = entry(body, cert, sig) if entry is not None else kit.log_entry(body)
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        verification_material=VerificationMaterial(
            certificate=cert.public_bytes(Encoding.DER), tlog_entries=(tlog,)
        ),
        message_signature=MessageSignature(sig, HashOutput("SHA2_256", digest)),
    )


def _dsse_bundle(kit: Kit, statement: Any, *, payload_type: str = "application/vnd.in-toto+json",
                 logged_payload: bytes | None = None, signatures: int = 1) -> Bundle:  # fmt: skip
    key = _ec()
    cert = kit.leaf(key)
    payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    sigs = tuple(DsseSignature(key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256())))
                 for _ in range(signatures))  # fmt: skip
    logged = logged_payload if logged_payload is not None else payload
    body = canonicalize({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": "00" * 32},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(logged).hexdigest()},
        "signatures": [{"signature": base64.b64encode(s.sig).decode(),
                        "verifier": base64.b64encode(pem(cert)).decode()} for s in sigs]}})  # fmt: skip
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        verification_material=VerificationMaterial(
            certificate=cert.public_bytes(Encoding.DER),
            tlog_entries=(kit.log_entry(body, kind="dsse"),),
        ),
        dsse_envelope=DsseEnvelope(payload, payload_type, sigs),
    )


def _statement(digest_hex: str = DIGEST.hex(), **changes: Any) -> dict[str, Any]:
    return {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "m", "digest": {"sha256": digest_hex}}],
            "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}, **changes}  # fmt: skip


def signed_bundles(kit: Kit) -> Iterator[tuple[str, Bundle, datetime | None]]:
    """(name, bundle, verifier clock or None) — each must be refused by ``kit``'s trusted root."""
    now = datetime.now(UTC)
    t = int(now.timestamp())

    def at(seconds: int) -> Any:
        return lambda body, cert, sig: kit.log_entry(body, integrated_time=seconds)

    yield "itime-before-cert", _blob_bundle(kit, entry=at(t - 7200)), None
    yield "itime-after-cert", _blob_bundle(
        kit, leaf_args={"not_before": now - timedelta(minutes=30)}), None  # fmt: skip
    yield "itime-future", _blob_bundle(kit, entry=at(t + 300)), now
    yield "itime-zero-signed", _blob_bundle(kit, entry=at(0)), None
    yield "itime-negative-signed", _blob_bundle(kit, entry=at(-100)), None
    yield "itime-year-33658-signed", _blob_bundle(kit, entry=at(10**12)), None
    yield "itime-2**53-signed", _blob_bundle(kit, entry=at(2**53 - 1)), None

    def checkpoint(size_delta: int, root: bytes | None) -> Any:
        def build(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
            entry = kit.log_entry(body)
            proof = entry.inclusion_proof
            text = _checkpoint(kit, proof.tree_size + size_delta, root or proof.root_hash)
            return dataclasses.replace(
                entry, inclusion_proof=dataclasses.replace(proof, checkpoint=text)
            )

        return build  # fmt: skip

    yield "checkpoint-other-size", _blob_bundle(kit, entry=checkpoint(1, None)), None
    yield "checkpoint-other-root", _blob_bundle(kit, entry=checkpoint(0, bytes(32))), None

    def proof_for_other_leaf(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
        other = kit.log_entry(body + b" ")
        return _sign_set(kit.log_key, dataclasses.replace(other, canonicalized_body=body))

    yield "proof-for-other-leaf", _blob_bundle(kit, entry=proof_for_other_leaf), None
    rogue = _ec()
    yield (
        "rogue-log",
        _blob_bundle(kit, entry=lambda b, c, s: kit.log_entry(b, log_key=rogue)),
        None,
    )

    def rogue_claims_trusted_id(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
        entry = kit.log_entry(body, log_key=rogue)
        entry = dataclasses.replace(entry, log_id=kit.log_id)
        return _sign_set(rogue, entry)

    yield "rogue-log-claims-trusted-id", _blob_bundle(kit, entry=rogue_claims_trusted_id), None

    def set_trusted_checkpoint_rogue(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
        entry = kit.log_entry(body)
        proof = entry.inclusion_proof
        text = _checkpoint(kit, proof.tree_size, proof.root_hash, key=rogue)
        return dataclasses.replace(
            entry, inclusion_proof=dataclasses.replace(proof, checkpoint=text)
        )

    yield "checkpoint-by-rogue-key", _blob_bundle(kit, entry=set_trusted_checkpoint_rogue), None

    def kind(name: str, version: str) -> Any:
        def build(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
            doc = json.loads(body) | {"kind": name, "apiVersion": version}
            relogged = canonicalize(doc)
            entry = kit.log_entry(relogged, kind=name)
            entry = dataclasses.replace(entry, kind_version=KindVersion(name, version))
            return _sign_set(kit.log_key, entry)

        return build  # fmt: skip

    for name, version in (("rekord", "0.0.1"), ("intoto", "0.0.2"), ("hashedrekord", "0.0.2")):
        yield f"logged-as-{name}-{version}", _blob_bundle(kit, entry=kind(name, version)), None
    other_digest = hashlib.sha256(b"something else").digest()
    key = _ec()
    other_cert = kit.leaf(key)
    yield (
        "body-other-digest",
        _blob_bundle(kit, body=hashedrekord_body(other_digest, b"0", b"x")),
        None,
    )

    def body_with(field: str) -> Any:
        def build(body: bytes, cert: Any, sig: bytes) -> TransparencyLogEntry:
            doc = json.loads(body)
            spec = doc["spec"]
            if field == "signature":
                spec["signature"]["content"] = base64.b64encode(sig[:-1] + b"\x00").decode()
            elif field == "certificate":
                spec["signature"]["publicKey"]["content"] = base64.b64encode(
                    pem(other_cert)
                ).decode()
            elif field == "sha512":
                spec["data"]["hash"]["algorithm"] = "sha512"
            elif field == "extra":
                spec["data"]["hash"]["extra"] = "field"
            return kit.log_entry(canonicalize(doc))

        return build  # fmt: skip

    for what in ("signature", "certificate", "sha512", "extra"):
        yield f"body-other-{what}", _blob_bundle(kit, entry=body_with(what)), None
    yield "signature-over-other-digest", _blob_bundle(kit, signed_digest=other_digest), None
    yield "sct-future", _blob_bundle(kit, leaf_args={"sct_time": now + timedelta(minutes=5)}), now
    yield "sct-untrusted-ct-log", _blob_bundle(kit, leaf_args={"ct_key": _ec()}), None
    yield "leaf-client-auth", _blob_bundle(
        kit, leaf_args={"eku": ExtendedKeyUsageOID.CLIENT_AUTH}), None  # fmt: skip
    yield "leaf-other-identity", _blob_bundle(kit, leaf_args={"identity": "bob@example.com"}), None
    yield (
        "leaf-other-issuer",
        _blob_bundle(kit, leaf_args={"issuer": "https://other.example"}),
        None,
    )
    yield "leaf-other-ca", Kit(ct_key=kit.ct_key, log_key=kit.log_key).sign_blob(KIT_DATA)[0], None
    two = _blob_bundle(kit)
    vm = two.verification_material
    two = dataclasses.replace(two, verification_material=dataclasses.replace(
        vm, tlog_entries=(vm.tlog_entries[0], kit.log_entry(vm.tlog_entries[0].canonicalized_body))))  # fmt: skip
    yield "two-log-entries", two, None
    yield "dsse-logged-other-payload", _dsse_bundle(
        kit, _statement(), logged_payload=b"{}"), None  # fmt: skip
    yield "dsse-two-signatures", _dsse_bundle(kit, _statement(), signatures=2), None
    yield (
        "dsse-other-payload-type",
        _dsse_bundle(kit, _statement(), payload_type="text/plain"),
        None,
    )
    yield "dsse-subject-other-digest", _dsse_bundle(kit, _statement("00" * 32)), None
    yield "dsse-no-subject", _dsse_bundle(kit, _statement(subject=[])), None
    yield "dsse-other-statement-type", _dsse_bundle(kit, _statement(_type="https://x/v9")), None
    yield "dsse-payload-not-json", _dsse_bundle(kit, b"not json"), None


def signed_mutants(kit: Kit) -> list[Mutant]:
    out = []
    root = kit.trusted_root()
    for name, bundle, now in signed_bundles(kit):
        seed = Seed(f"kit-signed:{name}", bundle.to_dict(), root, Artifact(DIGEST), POLICY, now=now)
        out.append(Mutant(seed, "resigned", (), bundle.to_json().encode()))
    # a managed-key bundle checked against another key, or naming another key in its body
    key = _ec()
    bundle = kit.sign_with_key(KIT_DATA, key)
    seed = Seed("kit-key-signed", bundle.to_dict(), root, Artifact(DIGEST), key=_ec().public_key())
    out.append(Mutant(seed, "other-key", (), bundle.to_json().encode()))
    return out


# -- trusted-root mutations -----------------------------------------------------------------------


def _retire(logs: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dataclasses.replace(log, public_key=dataclasses.replace(
        log.public_key, valid_for=RETIRED)) for log in logs)  # fmt: skip


def _retire_cas(cas: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dataclasses.replace(ca, valid_for=RETIRED) for ca in cas)


def root_variants(root: TrustedRoot, other: TrustedRoot) -> Iterator[tuple[str, TrustedRoot]]:
    r = dataclasses.replace
    yield "retire-tlogs", r(root, tlogs=_retire(root.tlogs))
    yield "retire-ctlogs", r(root, ctlogs=_retire(root.ctlogs))
    yield "retire-cas", r(root, certificate_authorities=_retire_cas(root.certificate_authorities))
    yield "no-tlogs", r(root, tlogs=())
    yield "no-ctlogs", r(root, ctlogs=())
    yield "no-cas", r(root, certificate_authorities=())
    yield "other-tlogs", r(root, tlogs=other.tlogs)
    yield "other-ctlogs", r(root, ctlogs=other.ctlogs)
    yield "other-cas", r(root, certificate_authorities=other.certificate_authorities)
    if root.timestamp_authorities:
        yield "retire-tsas", r(root, timestamp_authorities=_retire_cas(root.timestamp_authorities))
        yield "no-tsas", r(root, timestamp_authorities=())


def root_mutants(seeds: list[Seed], other: TrustedRoot) -> list[Mutant]:
    out = []
    for seed in seeds:
        for name, root in root_variants(seed.root, other):
            mutated = with_root(seed, name, root)
            text = json.dumps(seed.doc).encode()
            out.append(
                Mutant(mutated, f"root-{name}", (), text, allowed_for(seed, f"root-{name}", ()))
            )
    return out
