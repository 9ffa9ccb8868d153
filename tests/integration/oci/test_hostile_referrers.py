"""Against the real registry (Debian's distribution 2.8: referrers through the tag-schema
fallback index): whoever can push a referrer cannot stop a valid signature from verifying
(security review, issue 11 section 3, item 5). The signature is a real one made with the
throw-away instance of tests/unit/client/kit.py; the registry is the ``registry`` fixture."""

from __future__ import annotations

import json

from sigstack.client.oci import formats
from sigstack.client.oci.reference import Reference
from sigstack.client.oci.registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    fallback_tag,
    sha256_digest,
)
from sigstack.client.oci.verify import ImageVerifier
from sigstack.client.verify import IdentityPolicy
from tests.unit.client.kit import IDENTITY, ISSUER, Kit

POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


def _signed_image(reg: Registry, repo: str, kit: Kit) -> tuple[str, bytes]:
    config = reg.put_blob(repo, b'{"architecture":"amd64","os":"linux"}')
    image = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": formats.OCI_CONFIG, "digest": config, "size": 37},
        "layers": [],
    }).encode()  # fmt: skip
    digest, _ = reg.put_manifest(repo, "v1", image, OCI_MANIFEST)
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": digest.partition(":")[2]}}],
        "predicateType": formats.SIGN_PREDICATE,
        "predicate": {},
    }
    bundle = kit.attest(statement).to_json().encode()
    reg.put_blob(repo, bundle)
    reg.put_blob(repo, formats.EMPTY_BLOB)
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(image)}
    manifest = formats.referrer_manifest(bundle, subject, formats.SIGN_PREDICATE)
    reg.push_referrer(repo, manifest, digest, formats.BUNDLE_V03)
    return digest, image


def _prepend_to_fallback_index(reg: Registry, repo: str, digest: str, entry: dict) -> None:
    tag = fallback_tag(digest)
    index = reg.get_manifest(repo, tag).json
    index["manifests"] = [entry, *index["manifests"]]
    reg.put_manifest(repo, tag, json.dumps(index).encode(), OCI_INDEX)


def test_broken_referrer_next_to_a_valid_signature(registry: str) -> None:
    """A pushed referrer whose bundle layer is deep JSON, listed before the valid signature.
    (Distribution refuses an index naming a manifest it does not hold, so the missing-manifest,
    wrong-digest and oversized cases run against the fake in tests/unit/oci.)"""
    kit = Kit()
    repo = "team/hostile-referrer"
    reg = Registry(registry, loopback=True)
    digest, _ = _signed_image(reg, repo, kit)
    junk = b"[" * 100_000
    reg.put_blob(repo, junk)
    manifest = formats.referrer_manifest(
        junk, {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1}, formats.SIGN_PREDICATE
    )
    junk_digest, _ = reg.put_manifest(repo, sha256_digest(manifest), manifest, OCI_MANIFEST)
    entry = {"mediaType": OCI_MANIFEST, "digest": junk_digest, "size": len(manifest),
             "artifactType": formats.BUNDLE_V03}  # fmt: skip
    _prepend_to_fallback_index(reg, repo, digest, entry)

    ref = Reference.parse(f"{registry}/{repo}:v1")
    verifier = ImageVerifier(Registry(registry, loopback=True), kit.trusted_root(), POLICY)
    outcome = verifier.signatures(ref, verifier.resolve(ref))
    assert len(outcome.verified) == 1, outcome.failures
    assert [where for where, _ in outcome.failures] == [f"{ref.name}@{junk_digest}"]
    assert "nested" in outcome.failures[0][1]
