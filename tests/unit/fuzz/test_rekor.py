"""Fuzzing Rekor's entry parser (``services.rekor.types.prepare_entry``): only
``protocol.errors.Error`` escapes.

Entry points: a proposed entry as the v1 API decodes its body (``strictjson``) through
``prepare_entry``, for hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2; and DSSE / in-toto payloads signed as generated
by the submitter's own key (anyone may log what they sign, so the payload that ``prepare_entry`` reads
for search-index keys after the signature check is outside input too). Seeds: entries of each
kind signed with keys and a certificate made here, and in-toto statements.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from sigstack.protocol import strictjson
from sigstack.services.rekor.types import prepare_entry
from tests.support.entries import dsse, hashedrekord_entry, intoto
from tests.unit.client.kit import Kit, pem

from .core import Target, property_tests


@functools.cache
def _key() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, pem(key.public_key()), pem(Kit().leaf(key))


def _dsse(payload: bytes) -> dict[str, Any]:
    """Verified by a certificate and by the bare key, the signature with an empty key ID."""
    key, key_pem, cert_pem = _key()
    return dsse(payload, key, verifiers=[cert_pem, key_pem], keyid="")


def _intoto(payload: bytes) -> dict[str, Any]:
    return intoto(payload, _key()[0])


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
    entries = [hashedrekord_entry(digest, sig, content) for content in (key_pem, cert_pem)]
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
