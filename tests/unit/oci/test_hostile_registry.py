"""Image verification against a registry that works against us (security review, issue 11
section 3, item 5 and the legacy ``.sig`` image): a broken referrer next to a valid signature,
statements with bad signatures, too many referrers, attestations taken for signatures. A real HTTP
stack on 127.0.0.1 (``fakeregistry``), signatures made for real with the throw-away instance of
tests/unit/client/kit.py. The registry client's own defences: test_hostile_registry_http.py."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from sigstack.client.oci import formats
from sigstack.client.oci.reference import Reference
from sigstack.client.oci.registry import Registry
from sigstack.client.oci.verify import ImageVerifier
from sigstack.client.verify import IdentityPolicy
from sigstack.protocol.errors import VerificationError
from tests.unit.client.kit import IDENTITY, ISSUER, Kit

from .fakeregistry import OCI_INDEX, OCI_MANIFEST, FakeRegistry, digest_of

MIB = 1024 * 1024

POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit()


def _image(fake: FakeRegistry) -> tuple[Reference, str, bytes]:
    image = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    digest = fake.add_manifest(image, tag="v1")
    return Reference.parse(f"{fake.host}/team/app:v1"), digest, image


def _statement(digest: str, predicate_type: str = formats.SIGN_PREDICATE) -> dict:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": digest.partition(":")[2]}}],
        "predicateType": predicate_type,
        "predicate": {},
    }


def _push_bundle(
    fake: FakeRegistry,
    digest: str,
    image: bytes,
    bundle_json: bytes,
    predicate_type: str = formats.SIGN_PREDICATE,
) -> str:
    fake.add_blob(bundle_json)
    fake.add_blob(formats.EMPTY_BLOB)
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(image)}
    return fake.add_manifest(formats.referrer_manifest(bundle_json, subject, predicate_type))


def _verify(fake: FakeRegistry, kit: Kit, ref: Reference):
    registry = Registry(fake.host, loopback=True)
    verifier = ImageVerifier(registry, kit.trusted_root(), POLICY)
    return verifier.signatures(ref, verifier.resolve(ref))


# -- item 5: one broken referrer does not hide a valid signature -------------------------------


def _missing_manifest(fake: FakeRegistry, digest: str, image: bytes) -> None:
    fake.extra_referrers.append({"mediaType": OCI_MANIFEST, "digest": digest_of(b"gone"),
                                 "size": 4, "artifactType": formats.BUNDLE_V03})  # fmt: skip


def _missing_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    _push_bundle(fake, digest, image, b'{"not": "pushed"}')
    del fake.blobs[digest_of(b'{"not": "pushed"}')]


def _wrong_digest(fake: FakeRegistry, digest: str, image: bytes) -> None:
    ref = _push_bundle(fake, digest, image, b"{}")
    fake.manifests[ref] = (OCI_MANIFEST, fake.manifests[ref][1] + b" ")


def _oversized_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    from sigstack.client.oci.transport import LIMITS

    big = b"{}"
    _push_bundle(fake, digest, image, big)
    fake.routes[f"/v2/team/app/blobs/{digest_of(big)}"] = lambda h: h.stream(
        200, LIMITS.blob + 1, declared=LIMITS.blob + 1
    )


def _not_json_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    _push_bundle(fake, digest, image, b"[" * 200_000)


@pytest.mark.parametrize(
    "breakage", [_missing_manifest, _missing_blob, _wrong_digest, _oversized_blob, _not_json_blob]
)
def test_a_broken_referrer_does_not_block_a_valid_signature(fake, kit, breakage) -> None:
    ref, digest, image = _image(fake)
    breakage(fake, digest, image)  # listed first
    _push_bundle(fake, digest, image, kit.attest(_statement(digest)).to_json().encode())
    outcome = _verify(fake, kit, ref)
    assert len(outcome.verified) == 1, outcome.failures
    assert len(outcome.failures) == 1


def test_a_broken_referrers_list_leaves_the_legacy_tag_to_look_at(fake, kit) -> None:
    ref, digest, _ = _image(fake)
    fake.routes[f"/v2/team/app/referrers/{digest}"] = lambda h: h.reply(
        200, b"[" * 100_000, {"Content-Type": OCI_INDEX}
    )
    outcome = _verify(fake, kit, ref)
    assert outcome.failures and outcome.failures[0][0] == f"referrers of {digest}"
    assert any("sig" in where for where in outcome.looked_at)
    with pytest.raises(VerificationError, match="nested"):
        outcome.require_some(ref, "signature")


def test_the_signature_is_checked_before_the_statement_is_read(fake, kit) -> None:
    """A bundle whose envelope signature is bad, carrying a payload that is no statement: the
    reason given is the signature, because nothing of the payload is read before it verified."""
    ref, digest, image = _image(fake)
    bundle = kit.attest(_statement(digest))
    env = bundle.dsse_envelope
    for payload, payload_type in (
        (b"[" * 100_000, env.payload_type),
        (b"not json", env.payload_type),
        (env.payload, "text/plain"),
    ):
        forged = dataclasses.replace(env, payload=payload, payload_type=payload_type)
        raw = dataclasses.replace(bundle, dsse_envelope=forged).to_json().encode()
        _push_bundle(fake, digest, image, raw)
    outcome = _verify(fake, kit, ref)
    assert not outcome.verified
    reasons = [why for where, why in outcome.failures if "@sha256:" in where]
    assert len(reasons) == 3
    assert all("signature is not valid" in why for why in reasons), reasons


def test_referrers_are_capped(fake, kit) -> None:
    from sigstack.client.oci.verify import MAX_CANDIDATES

    ref, digest, image = _image(fake)
    for n in range(MAX_CANDIDATES + 20):
        _push_bundle(fake, digest, image, json.dumps({"junk": n}).encode())
    outcome = _verify(fake, kit, ref)
    fetched = [p for p in fake.requests_for("/v2/team/app/manifests/sha256:") if digest not in p]
    assert len(fetched) == MAX_CANDIDATES
    assert any("20 more referrers were not examined" in why for _, why in outcome.failures)


def test_attestations_are_not_verified_as_signatures_and_the_reverse(fake, kit) -> None:
    ref, digest, image = _image(fake)
    slsa = "https://slsa.dev/provenance/v1"
    _push_bundle(fake, digest, image, kit.attest(_statement(digest, slsa)).to_json().encode(), slsa)
    _push_bundle(fake, digest, image, kit.attest(_statement(digest)).to_json().encode())
    registry = Registry(fake.host, loopback=True)
    verifier = ImageVerifier(registry, kit.trusted_root(), POLICY)
    manifest = verifier.resolve(ref)
    sigs = verifier.signatures(ref, manifest)
    atts = verifier.attestations(ref, manifest, slsa)
    assert len(sigs.verified) == 1 and len(atts.verified) == 1
    assert atts.verified[0].result.statement.predicate_type == slsa
    # an attestation whose annotation lies (claims to be a signature) is verified, then skipped
    lying = kit.attest(_statement(digest, slsa)).to_json().encode()
    _push_bundle(fake, digest, image, lying, formats.SIGN_PREDICATE)
    assert len(verifier.signatures(ref, manifest).verified) == 1


# -- the legacy .sig image: the same rules per layer ------------------------------------------------


def _legacy_layer(fake: FakeRegistry, kit: Kit, ref: Reference, digest: str) -> dict:
    """A real cosign-style signature layer: simple-signing payload signed and logged with kit."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import load_der_x509_certificate

    payload = formats.simple_signing_payload(ref.name, digest, None)
    bundle, _ = kit.sign_blob(payload)
    cert = load_der_x509_certificate(bundle.verification_material.certificate)
    annotations = {
        formats.ANN_SIGNATURE: base64.b64encode(bundle.message_signature.signature).decode(),
        formats.ANN_CERTIFICATE: cert.public_bytes(Encoding.PEM).decode(),
        formats.ANN_BUNDLE: formats.rekor_bundle_annotation(
            bundle.verification_material.tlog_entries[0]
        ),
    }
    return formats.descriptor(formats.SIMPLESIGNING, payload, annotations) | {"_blob": payload}


def _push_sig_image(fake: FakeRegistry, digest: str, layers: list[dict]) -> None:
    for layer in layers:
        blob = layer.pop("_blob", None)
        if blob is not None:
            fake.add_blob(blob)
    config = formats.signature_config(layers)
    fake.add_blob(config)
    raw = formats.signature_manifest(config, layers)
    fake.add_manifest(raw, tag=formats.legacy_tag(digest, "sig"))


def test_a_broken_legacy_layer_does_not_block_a_valid_one(fake, kit) -> None:
    ref, digest, _ = _image(fake)
    missing = formats.descriptor(formats.SIMPLESIGNING, b"never pushed")
    _push_sig_image(fake, digest, [missing, _legacy_layer(fake, kit, ref, digest)])
    outcome = _verify(fake, kit, ref)
    assert len(outcome.verified) == 1, outcome.failures
    assert [where.rpartition(" ")[2] for where, _ in outcome.failures] == ["0"]


def test_legacy_layers_are_capped(fake, kit) -> None:
    from sigstack.client.oci.verify import MAX_CANDIDATES

    ref, digest, _ = _image(fake)
    junk = [formats.descriptor(formats.SIMPLESIGNING, b"%d" % n) | {"_blob": b"%d" % n}
            for n in range(MAX_CANDIDATES + 6)]  # fmt: skip
    _push_sig_image(fake, digest, junk)
    outcome = _verify(fake, kit, ref)
    fetched = [p for p in fake.requests_for("/v2/team/app/blobs/") if "sha256" in p]
    assert len(fetched) == MAX_CANDIDATES
    assert any("6 more signature layers were not examined" in why for _, why in outcome.failures)
