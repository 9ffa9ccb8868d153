"""Fuzzing Rekor's entry parser (``services.rekor.types.prepare_entry``): only
``protocol.errors.Error`` escapes.

Entry points: a proposed entry as the v1 API decodes its body (``strictjson``) through
``prepare_entry``, for hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2; and DSSE / in-toto payloads signed as generated
by the submitter's own key (anyone may log what they sign, so the payload that ``prepare_entry`` reads
for search-index keys after the signature check is outside input too). Seeds: entries of each
kind signed with keys and a certificate made here, and in-toto statements.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from sigstack.protocol import strictjson
from sigstack.protocol.bundle import pae
from sigstack.services.rekor.types import prepare_entry
from tests.unit.client.kit import Kit, pem

from .core import Target, property_tests

INTOTO = "application/vnd.in-toto+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@functools.cache
def _key() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, pem(key.public_key()), pem(Kit().leaf(key))


def _dsse(payload: bytes, payload_type: str = INTOTO) -> dict[str, Any]:
    key, key_pem, cert_pem = _key()
    sig = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {"payloadType": payload_type, "payload": b64(payload),
                "signatures": [{"sig": b64(sig), "keyid": ""}]}  # fmt: skip
    return {"kind": "dsse", "apiVersion": "0.0.1", "spec": {"proposedContent": {
        "envelope": json.dumps(envelope), "verifiers": [b64(cert_pem), b64(key_pem)]}}}  # fmt: skip


def _intoto(payload: bytes, payload_type: str = INTOTO) -> dict[str, Any]:
    key, key_pem, _ = _key()
    sig = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {"payloadType": payload_type, "payload": b64(b64(payload).encode()),
                "signatures": [{"sig": b64(b64(sig).encode()), "publicKey": b64(key_pem)}]}  # fmt: skip
    digest = hashlib.sha256(json.dumps(envelope).encode()).hexdigest()
    return {"kind": "intoto", "apiVersion": "0.0.2", "spec": {"content": {
        "envelope": envelope, "hash": {"algorithm": "sha256", "value": digest}}}}  # fmt: skip


@functools.cache
def statement_seeds() -> list[bytes]:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {"materials": [{"uri": "git+https://x", "digest": {"sha1": "cd" * 20}}]},
    }
    return [json.dumps(statement).encode()]


@functools.cache
def entry_seeds() -> list[bytes]:
    key, key_pem, cert_pem = _key()
    digest = hashlib.sha256(b"artifact").digest()
    sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    entries = [
        {"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {"content": b64(sig), "publicKey": {"content": b64(content)}}}}
        for content in (key_pem, cert_pem)
    ]  # fmt: skip
    entries += [_dsse(statement_seeds()[0]), _intoto(statement_seeds()[0])]
    return [json.dumps(e).encode() for e in entries]


def _proposed(data: bytes) -> None:
    prepare_entry(strictjson.loads(data, "request body"))  # as services/rekor/api.py decodes it


TARGETS = [
    Target("prepare_entry(proposed entry)", _proposed, entry_seeds),
    Target(
        "prepare_entry(dsse, signed payload)", lambda d: prepare_entry(_dsse(d)), statement_seeds
    ),
    Target(
        "prepare_entry(intoto, signed payload)",
        lambda d: prepare_entry(_intoto(d)),
        statement_seeds,
    ),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
