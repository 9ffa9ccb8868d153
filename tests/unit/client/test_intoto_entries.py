"""Bundles whose log entry is a Rekor v1 ``intoto`` 0.0.2 (what ``@sigstore/cli attest`` writes):
the SET-signed integrated time counts, and the logged body must record this envelope.

The bodies are built as Rekor canonicalises them (services/rekor/types.py, spec/rekor.md section
2) and logged by the kit's log key, so each mutation below is signed by the log: only the body
consistency check can refuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.protocol.bundle import (
    MEDIA_TYPE_V03,
    Bundle,
    DsseEnvelope,
    DsseSignature,
    KindVersion,
    VerificationMaterial,
    pae,
)
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.errors import VerificationError
from tests.support.keys import b64

from .kit import IDENTITY, ISSUER, Kit, pem

ARTIFACT = b"attested by sigstore-js\n"
PTYPE = "application/vnd.in-toto+json"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


def _statement() -> bytes:
    return json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}}],
        "predicateType": "https://example.com/p", "predicate": {},
    }).encode()  # fmt: skip


def _bundle(
    kit: Kit,
    edit: Callable[[dict[str, Any], dict[str, Any]], None] = lambda body, ctx: None,
    keyid: str = "",
    version: str = "0.0.2",
) -> Bundle:
    """An intoto entry as Rekor stores it for sigstore-js' proposed entry; ``edit`` changes the
    body (given the context: signature, certificate PEM, payload) before the log signs it."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = kit.leaf(key)
    payload = _statement()
    sig = key.sign(pae(PTYPE, payload), ec.ECDSA(hashes.SHA256()))
    item = {"publicKey": b64(pem(cert)), "sig": b64(b64(sig).encode())}
    if keyid:
        item["keyid"] = keyid
    body: dict[str, Any] = {
        "apiVersion": version,
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {"payloadType": PTYPE, "signatures": [item]},
                "hash": {"algorithm": "sha256", "value": "ab" * 32},
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
            }
        },
    }
    edit(body, {"sig": sig, "payload": payload, "pem": pem(cert)})
    entry = kit.log_entry(canonicalize(body), kind="intoto")
    entry = dataclasses.replace(entry, kind_version=KindVersion("intoto", version))
    from cryptography.hazmat.primitives import serialization

    return Bundle(
        media_type=MEDIA_TYPE_V03,
        verification_material=VerificationMaterial(
            certificate=cert.public_bytes(serialization.Encoding.DER), tlog_entries=(entry,)
        ),
        dsse_envelope=DsseEnvelope(payload, PTYPE, (DsseSignature(sig, keyid),)),
    )


def _verify(kit: Kit, bundle: Bundle) -> Any:
    artifact = Artifact(hashlib.sha256(ARTIFACT).digest())
    return Verifier(kit.trusted_root()).verify_artifact(bundle, artifact, POLICY)


def test_an_intoto_entry_verifies_on_its_integrated_time() -> None:
    """The kit logs at global index 1004, tree index 4: a sharded Rekor v1, where the two differ
    (only a Rekor v2 entry must have them equal)."""
    kit = Kit()
    result = _verify(kit, _bundle(kit))
    assert len(result.times) == 1  # the SET's integrated time, the only signed time here
    assert "The log entry records this envelope and signer" in result.checks
    assert _verify(kit, _bundle(kit, keyid="key-1")).statement is not None


def _content(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["content"]  # type: ignore[no-any-return]


def _sig(body: dict[str, Any]) -> dict[str, Any]:
    return _content(body)["envelope"]["signatures"][0]  # type: ignore[no-any-return]


MUTATIONS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "another payload's hash": lambda b, c: _content(b)["payloadHash"].update(value="cd" * 32),
    "a payload hash that is not SHA-256": lambda b, c: _content(b)["payloadHash"].update(
        algorithm="sha512"
    ),
    "an envelope hash that is not hex": lambda b, c: _content(b)["hash"].update(value="zz" * 32),
    "another payload type": lambda b, c: _content(b)["envelope"].update(payloadType="text/plain"),
    "the signature base64-encoded once": lambda b, c: _sig(b).update(sig=b64(c["sig"])),
    "another signature": lambda b, c: _sig(b).update(sig=b64(b64(c["sig"][:-1]).encode())),
    "a keyid the bundle does not carry": lambda b, c: _sig(b).update(keyid="other"),
    "another signer": lambda b, c: _sig(b).update(
        publicKey=b64(pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    ),
    "two signatures": lambda b, c: _content(b)["envelope"]["signatures"].append(dict(_sig(b))),
    "the payload logged too": lambda b, c: _content(b)["envelope"].update(
        payload=b64(b64(c["payload"]).encode())
    ),
    "no payload hash": lambda b, c: _content(b).pop("payloadHash"),
}


@pytest.mark.parametrize("change", sorted(MUTATIONS))
def test_a_body_that_does_not_record_the_envelope_is_refused(change: str) -> None:
    kit = Kit()
    with pytest.raises(VerificationError, match="intoto log entry|inconsistent with other"):
        _verify(kit, _bundle(kit, MUTATIONS[change]))


def test_an_integrated_time_of_another_intoto_version_is_refused() -> None:
    kit = Kit()
    with pytest.raises(VerificationError, match="not intoto 0.0.1"):
        _verify(kit, _bundle(kit, version="0.0.1"))
