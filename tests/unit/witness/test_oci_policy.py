"""``sigstack verify IMAGE --witness-policy``: each image signature's log checkpoint must meet the
policy. A real HTTP registry on 127.0.0.1 (tests/unit/oci/fakeregistry.py) holds bundles signed
for real by the throw-away instance of tests/unit/client/kit.py; a legacy ``.sig`` signature has no
checkpoint and cannot meet a policy."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from sigstack.client.oci import formats
from sigstack.client.oci.reference import Reference
from sigstack.client.oci.registry import Registry
from sigstack.client.oci.verify import ImageVerifier
from sigstack.client.verify import IdentityPolicy
from sigstack.client.verify.witness import WitnessPolicy
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import VerificationError
from tests.unit.client.kit import IDENTITY, ISSUER, Kit
from tests.unit.oci.fakeregistry import OCI_MANIFEST, FakeRegistry
from tests.unit.witness.test_policy import Cosigner

POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    yield reg
    reg.close()


def _image(fake: FakeRegistry) -> tuple[Reference, str, bytes]:
    image = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    digest = fake.add_manifest(image, tag="v1")
    return Reference.parse(f"{fake.host}/team/app:v1"), digest, image


def _push(fake: FakeRegistry, digest: str, image: bytes, bundle: Bundle) -> None:
    raw = bundle.to_json().encode()
    fake.add_blob(raw)
    fake.add_blob(formats.EMPTY_BLOB)
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(image)}
    fake.add_manifest(formats.referrer_manifest(raw, subject, formats.SIGN_PREDICATE))


def _cosigned(bundle: Bundle, witness: Cosigner) -> Bundle:
    entry = bundle.verification_material.tlog_entries[0]
    proof = entry.inclusion_proof
    assert proof is not None and proof.checkpoint
    checkpoint = proof.checkpoint + witness.line(proof.checkpoint)
    entry = dataclasses.replace(
        entry, inclusion_proof=dataclasses.replace(proof, checkpoint=checkpoint)
    )
    material = dataclasses.replace(bundle.verification_material, tlog_entries=(entry,))
    return dataclasses.replace(bundle, verification_material=material)


def _push_legacy(fake: FakeRegistry, digest: str) -> None:
    """A cosign ``.sig`` image with one simple-signing layer (never fetched under a policy)."""
    layer = fake.add_blob(b"{}")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": fake.add_blob(b"{}"), "size": 2},
                "layers": [{"mediaType": formats.SIMPLESIGNING, "digest": layer, "size": 2}]}  # fmt: skip
    fake.add_manifest(json.dumps(manifest).encode(), tag=formats.legacy_tag(digest, "sig"))


def _statement(digest: str) -> dict[str, object]:
    return {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": digest.partition(":")[2]}}],
            "predicateType": formats.SIGN_PREDICATE, "predicate": {}}  # fmt: skip


def test_image_signatures_must_meet_the_witness_policy(fake: FakeRegistry) -> None:
    kit, witness = Kit(), Cosigner("witness.test/w1")
    rules = WitnessPolicy.from_text(f"witness w1 {witness.vkey}\nquorum w1\n")
    ref, digest, image = _image(fake)
    plain = kit.attest(_statement(digest))
    _push(fake, digest, image, plain)
    _push_legacy(fake, digest)
    verifier = ImageVerifier(Registry(fake.host, loopback=True), kit.trusted_root(), POLICY,
                             witness_policy=rules)  # fmt: skip
    outcome = verifier.signatures(ref, verifier.resolve(ref))
    assert not outcome.verified
    reasons = [why for _, why in outcome.failures]
    assert any("no valid cosignature from: w1" in why for why in reasons), reasons
    assert any("legacy signature carries no log checkpoint" in why for why in reasons), reasons
    with pytest.raises(VerificationError, match="no valid cosignature from: w1"):
        outcome.require_some(ref, "signature")
    _push(fake, digest, image, _cosigned(plain, witness))
    outcome = verifier.signatures(ref, verifier.resolve(ref))
    assert len(outcome.verified) == 1, outcome.failures
    checks = outcome.verified[0].result.checks
    assert any("meeting the witness policy: w1 at" in c for c in checks)
    # without a policy both verify (the cosignature line is ignored)
    unwitnessed = ImageVerifier(Registry(fake.host, loopback=True), kit.trusted_root(), POLICY)
    assert len(unwitnessed.signatures(ref, unwitnessed.resolve(ref)).verified) == 2
