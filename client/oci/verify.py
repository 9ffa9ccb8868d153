"""Finding and verifying an image's signatures and attestations in both of cosign's places.

Discovery follows cosign: Sigstore bundles among the referrers of the image digest (referrers API
or its tag-schema fallback), then the legacy ``sha256-<hex>.sig`` (``.att``) tag. Each candidate is
verified fully and independently — a bundle with ``client.verify.Verifier`` (its in-toto subject
must be the image digest), a legacy layer with ``client.oci.legacy.LegacyVerifier`` plus the
simple-signing claims — and the outcome lists what verified and, for the rest, why not.
"""

from __future__ import annotations

import json
from dataclasses import field
from typing import Any

from client.verify import Artifact, IdentityPolicy, Result, Verifier
from client.verify.intoto import Statement
from protocol.bundle import Bundle
from protocol.errors import Error, VerificationError
from protocol.record import record
from protocol.trust import TrustedRoot

from . import formats
from .legacy import LegacyVerifier
from .reference import Reference
from .registry import Manifest, Registry

CLAIMS_CHECK = "The cosign claims were validated"


@record
class Verified:
    location: str
    result: Result
    document: Any  # what ``verify`` prints: the payload / statement as JSON


@record
class Outcome:
    digest: str
    verified: list[Verified] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)

    def require_some(self, ref: Reference, what: str) -> None:
        if self.verified:
            return
        if not self.failures:
            raise VerificationError(
                f"no {what}s found for {ref.name}@{self.digest} (looked in: "
                f"{', '.join(self.looked_at)})"
            )
        reasons = "; ".join(f"{loc}: {why}" for loc, why in self.failures)
        raise VerificationError(f"no matching {what}s: {reasons}")


class ImageVerifier:
    def __init__(
        self,
        registry: Registry,
        root: TrustedRoot,
        policy: IdentityPolicy,
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.annotations = annotations or {}
        self._bundles = Verifier(root)
        self._legacy = LegacyVerifier(root)

    def resolve(self, ref: Reference) -> Manifest:
        return self.registry.get_manifest(ref.repository, ref.identifier)

    def signatures(self, ref: Reference, manifest: Manifest) -> Outcome:
        out = Outcome(manifest.digest)
        self._referrers(ref, manifest, out, attestation=False, predicate_type=None)
        self._legacy_layers(ref, manifest, out, "sig", None)
        return out

    def attestations(
        self, ref: Reference, manifest: Manifest, predicate_type: str | None
    ) -> Outcome:
        out = Outcome(manifest.digest)
        self._referrers(ref, manifest, out, attestation=True, predicate_type=predicate_type)
        self._legacy_layers(ref, manifest, out, "att", predicate_type)
        return out

    # -- new bundle format -------------------------------------------------------------------

    def _referrers(
        self,
        ref: Reference,
        manifest: Manifest,
        out: Outcome,
        attestation: bool,
        predicate_type: str | None,
    ) -> None:
        out.looked_at.append(f"referrers of {manifest.digest}")
        artifact = Artifact(sha256=bytes.fromhex(manifest.digest.partition(":")[2]))
        for location, raw in find_bundles(self.registry, ref, manifest.digest):
            try:
                bundle = Bundle.from_json(raw)
                statement = _statement(bundle)
                is_signature = (
                    statement is None or statement.predicate_type == formats.SIGN_PREDICATE
                )
                if is_signature == attestation:
                    continue  # the other kind: not a candidate here
                if (
                    attestation
                    and predicate_type
                    and statement
                    and statement.predicate_type != predicate_type
                ):
                    raise VerificationError(
                        f"the predicate type is {statement.predicate_type!r}, not {predicate_type!r}"
                    )
                result = self._bundles.verify_artifact(bundle, artifact, self.policy)
                document: Any = {"digest": manifest.digest}
                if result.payload is not None:
                    document = json.loads(result.payload)
                    _check_subject_annotations(document, manifest.digest, self.annotations)
                    result.checks.append(CLAIMS_CHECK)
                if attestation and bundle.dsse_envelope is not None:
                    document = json.loads(formats.envelope_json(bundle.dsse_envelope))
                out.verified.append(Verified(location, result, document))
            except Error as exc:
                out.failures.append((location, exc.message))

    # -- legacy tags -------------------------------------------------------------------------------

    def _legacy_layers(
        self,
        ref: Reference,
        manifest: Manifest,
        out: Outcome,
        suffix: str,
        predicate_type: str | None,
    ) -> None:
        out.looked_at.append(f"tag {formats.legacy_tag(manifest.digest, suffix)}")
        want = formats.SIMPLESIGNING if suffix == "sig" else formats.DSSE_LAYER
        for location, layer, blob in find_legacy_layers(
            self.registry, ref, manifest.digest, suffix
        ):
            if layer.get("mediaType") != want:
                continue
            annotations = layer.get("annotations") or {}
            try:
                if not isinstance(annotations, dict):
                    raise VerificationError("the layer's annotations are not a map")
                if suffix == "sig":
                    result = self._legacy.verify_signature(annotations, blob, self.policy)
                    document = formats.check_simple_signing(blob, manifest.digest, self.annotations)
                    result.checks.append(CLAIMS_CHECK)
                    optional = document.get("optional") or {}
                    if isinstance(optional, dict):
                        optional = {
                            **optional,
                            "Issuer": result.issuer,
                            "Subject": ", ".join(result.identity),
                        }
                        document = {**document, "optional": optional}
                else:
                    envelope = formats.parse_envelope(blob)
                    result = self._legacy.verify_attestation(annotations, envelope, self.policy)
                    statement = Statement.from_payload(envelope.payload_type, envelope.payload)
                    statement.require_subject(manifest.digest.partition(":")[2])
                    if predicate_type and statement.predicate_type != predicate_type:
                        raise VerificationError(
                            f"the predicate type is {statement.predicate_type!r}, not {predicate_type!r}"
                        )
                    result.statement = statement
                    result.checks.append(CLAIMS_CHECK)
                    document = json.loads(blob)
                out.verified.append(Verified(location, result, document))
            except Error as exc:
                out.failures.append((location, exc.message))


def find_bundles(registry: Registry, ref: Reference, digest: str) -> list[tuple[str, bytes]]:
    """(location, bundle JSON) of every Sigstore bundle referring to ``digest``."""
    repo, found = ref.repository, []
    descriptors, _ = registry.referrers(repo, digest)
    for desc in descriptors:
        if desc.get("artifactType") not in (None, formats.BUNDLE_V03):
            continue
        manifest = registry.get_manifest(repo, desc["digest"]).json
        if manifest.get("artifactType") != formats.BUNDLE_V03:
            continue
        layers = manifest.get("layers") or []
        if (
            not layers
            or not isinstance(layers[0], dict)
            or layers[0].get("mediaType") != formats.BUNDLE_V03
        ):
            continue
        blob = registry.get_blob(repo, str(layers[0].get("digest")))
        found.append((f"{ref.name}@{desc['digest']}", blob))
    return found


def find_legacy_layers(
    registry: Registry, ref: Reference, digest: str, suffix: str
) -> list[tuple[str, dict[str, Any], bytes]]:
    """(location, layer descriptor, blob) of each layer of the ``.sig`` / ``.att`` image."""
    tag = formats.legacy_tag(digest, suffix)
    image = registry.find_manifest(ref.repository, tag)
    if image is None:
        return []
    out = []
    for n, layer in enumerate(image.json.get("layers") or []):
        if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
            continue
        blob = registry.get_blob(ref.repository, layer["digest"])
        out.append((f"{ref.name}:{tag} layer {n}", layer, blob))
    return out


def _statement(bundle: Bundle) -> Statement | None:
    if bundle.dsse_envelope is None:
        return None
    env = bundle.dsse_envelope
    return Statement.from_payload(env.payload_type, env.payload)


def _check_subject_annotations(document: Any, digest: str, annotations: dict[str, str]) -> None:
    if not annotations:
        return
    hexdigest = digest.partition(":")[2]
    for subject in document.get("subject") or []:
        if isinstance(subject, dict) and (subject.get("digest") or {}).get("sha256") == hexdigest:
            got = subject.get("annotations") or {}
            for key, value in annotations.items():
                if not isinstance(got, dict) or got.get(key) != value:
                    raise VerificationError(
                        f"the signed statement lacks the annotation {key}={value}"
                    )
            return
    raise VerificationError("no subject of the statement has the image digest")
