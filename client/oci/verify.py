"""Finding and verifying an image's signatures and attestations in both of cosign's places.

Discovery follows cosign: Sigstore bundles among the referrers of the image digest (referrers API
or its tag-schema fallback), then the legacy ``sha256-<hex>.sig`` (``.att``) tag. Each candidate is
fetched and verified fully and independently — a bundle with ``client.verify.Verifier`` (its in-toto
subject must be the image digest), a legacy layer with ``client.oci.legacy.LegacyVerifier`` plus
the simple-signing claims — and the outcome lists what verified and, for the rest, why not.

Anyone who can push to the repository can add referrers, so none of them may stop the others
from being looked at: fetching a candidate (its manifest, its blob, with the registry's size
caps) happens inside the per-candidate error handling, and a broken one is one failure among the
rest. Nothing a candidate says is believed before its signature verified: the bundle's predicate
type annotation is used only to skip candidates of the other kind (attestations when verifying
signatures and the reverse), and whether a bundle is a signature or an attestation is decided
from its verified statement. At most ``MAX_CANDIDATES`` referrers and ``MAX_CANDIDATES`` legacy
layers are fetched and verified per image (each costs requests and a verification); the rest are
reported as not examined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import field
from typing import Any

from sigstack.client.verify import Artifact, IdentityPolicy, VerificationResult, Verifier
from sigstack.client.verify.intoto import Statement
from sigstack.client.verify.witness import WitnessPolicy, require_witnessed
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import Error, VerificationError
from sigstack.protocol.protojson import parse_json
from sigstack.protocol.record import record
from sigstack.protocol.trust import TrustedRoot

from . import formats
from .legacy import LegacyVerifier
from .reference import Reference
from .registry import Manifest, Registry

MAX_CANDIDATES = 64
"""Referrers (and, separately, legacy signature layers) fetched and verified per image."""

CLAIMS_CHECK = "The cosign claims were validated"


@record
class Verified:
    location: str
    result: VerificationResult
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
        witness_policy: WitnessPolicy | None = None,
    ) -> None:
        self.registry = registry
        self.witness_policy = witness_policy  # client.verify.witness: checkpoints cosigned
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
        where = f"referrers of {manifest.digest}"
        out.looked_at.append(where)
        artifact = Artifact(sha256=bytes.fromhex(manifest.digest.partition(":")[2]))
        try:
            candidates = bundle_candidates(self.registry, ref, manifest.digest)
        except Error as exc:
            out.failures.append((where, exc.message))
            return
        # a candidate whose annotation says it is of the other kind is skipped (a hint only)
        candidates = [
            c for c in candidates if c.hint is None or _is_signature(c.hint) != attestation
        ]
        if len(candidates) > MAX_CANDIDATES:
            out.failures.append((where, _not_examined(len(candidates), "referrers")))
        for candidate in candidates[:MAX_CANDIDATES]:
            try:
                raw = candidate.fetch()
                if raw is None:
                    continue  # not a Sigstore bundle
                bundle = Bundle.from_json(raw)
                # the signature, the log entry and (DSSE) the statement's subject, before anything
                # the statement says is looked at
                result = self._bundles.verify_artifact(bundle, artifact, self.policy)
                if self.witness_policy is not None:
                    result.checks.append(require_witnessed(bundle, self.witness_policy))
                statement = result.statement
                kind = statement.predicate_type if statement else formats.SIGN_PREDICATE
                if _is_signature(kind) == attestation:
                    continue  # the other kind, verified: not a candidate here
                if attestation and predicate_type and kind != predicate_type:
                    raise VerificationError(
                        f"the predicate type is {kind!r}, not {predicate_type!r}"
                    )
                document: Any = {"digest": manifest.digest}
                if result.payload is not None:
                    document = parse_json(result.payload, "the signed statement")
                    _check_subject_annotations(document, manifest.digest, self.annotations)
                    result.checks.append(CLAIMS_CHECK)
                if attestation and bundle.dsse_envelope is not None:
                    document = json.loads(formats.envelope_json(bundle.dsse_envelope))
                out.verified.append(Verified(candidate.location, result, document))
            except Error as exc:
                out.failures.append((candidate.location, exc.message))

    # -- legacy tags -------------------------------------------------------------------------------

    def _legacy_layers(
        self,
        ref: Reference,
        manifest: Manifest,
        out: Outcome,
        suffix: str,
        predicate_type: str | None,
    ) -> None:
        tag = f"tag {formats.legacy_tag(manifest.digest, suffix)}"
        out.looked_at.append(tag)
        want = formats.SIMPLESIGNING if suffix == "sig" else formats.DSSE_LAYER
        try:
            layers = legacy_candidates(self.registry, ref, manifest.digest, suffix)
        except Error as exc:
            out.failures.append((tag, exc.message))
            return
        layers = [c for c in layers if c.layer.get("mediaType") == want]
        if len(layers) > MAX_CANDIDATES:
            out.failures.append((tag, _not_examined(len(layers), "signature layers")))
        for candidate in layers[:MAX_CANDIDATES]:
            location, layer = candidate.location, candidate.layer
            annotations = layer.get("annotations") or {}
            try:
                if self.witness_policy is not None:
                    raise VerificationError(
                        "a legacy signature carries no log checkpoint: the witness policy cannot "
                        "be met"
                    )
                blob = candidate.fetch()
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
                    document = parse_json(blob, "the attestation layer")
                out.verified.append(Verified(location, result, document))
            except Error as exc:
                out.failures.append((location, exc.message))


@record(frozen=True)
class BundleCandidate:
    """A referrer that may hold a Sigstore bundle: ``fetch`` reads its manifest and bundle blob
    (raising an ``Error``), or returns None when it is not a bundle. ``hint``: the predicate type
    its descriptor's annotation claims (unauthenticated)."""

    location: str
    fetch: Callable[[], bytes | None]
    hint: str | None


@record(frozen=True)
class LayerCandidate:
    """A layer of the legacy ``.sig`` / ``.att`` image; ``fetch`` reads its blob."""

    location: str
    layer: dict[str, Any]
    fetch: Callable[[], bytes]


def bundle_candidates(registry: Registry, ref: Reference, digest: str) -> list[BundleCandidate]:
    """The referrers of ``digest`` that may be Sigstore bundles (by their descriptor), nothing
    fetched yet; raises only when the referrers list itself cannot be read."""
    repo = ref.repository
    descriptors, _ = registry.referrers(repo, digest)
    out = []
    for desc in descriptors:
        if desc.get("artifactType") not in (None, formats.BUNDLE_V03):
            continue
        annotations = desc.get("annotations")
        hint = (
            annotations.get(formats.ANN_BUNDLE_PREDICATE) if isinstance(annotations, dict) else None
        )
        out.append(
            BundleCandidate(
                location=f"{ref.name}@{desc['digest']}",
                fetch=_bundle_fetcher(registry, repo, desc["digest"]),
                hint=hint if isinstance(hint, str) else None,
            )
        )
    return out


def _bundle_fetcher(registry: Registry, repo: str, digest: str) -> Callable[[], bytes | None]:
    def fetch() -> bytes | None:
        manifest = registry.get_manifest(repo, digest).json
        if manifest.get("artifactType") != formats.BUNDLE_V03:
            return None
        layers = manifest.get("layers") or []
        if (
            not isinstance(layers, list)
            or not layers
            or not isinstance(layers[0], dict)
            or layers[0].get("mediaType") != formats.BUNDLE_V03
        ):
            return None
        return registry.get_blob(repo, str(layers[0].get("digest")))

    return fetch


def legacy_candidates(
    registry: Registry, ref: Reference, digest: str, suffix: str
) -> list[LayerCandidate]:
    """The layers of the ``.sig`` / ``.att`` image of ``digest`` (none when there is no such
    tag), blobs not fetched yet; raises when the image manifest cannot be read."""
    tag = formats.legacy_tag(digest, suffix)
    image = registry.find_manifest(ref.repository, tag)
    if image is None:
        return []
    layers = image.json.get("layers") or []
    if not isinstance(layers, list):
        raise VerificationError(f"the layers of {ref.name}:{tag} are not a list")
    out = []
    for n, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
            continue
        out.append(
            LayerCandidate(
                location=f"{ref.name}:{tag} layer {n}",
                layer=layer,
                fetch=_blob_fetcher(registry, ref.repository, layer["digest"]),
            )
        )
    return out


def _blob_fetcher(registry: Registry, repo: str, digest: str) -> Callable[[], bytes]:
    return lambda: registry.get_blob(repo, digest)


def find_bundles(registry: Registry, ref: Reference, digest: str) -> list[tuple[str, bytes]]:
    """(location, bundle JSON) of the Sigstore bundles referring to ``digest`` that can be read,
    at most ``MAX_CANDIDATES`` fetched (for ``download``: nothing is verified)."""
    found = []
    for candidate in bundle_candidates(registry, ref, digest)[:MAX_CANDIDATES]:
        try:
            raw = candidate.fetch()
        except Error:
            continue
        if raw is not None:
            found.append((candidate.location, raw))
    return found


def find_legacy_layers(
    registry: Registry, ref: Reference, digest: str, suffix: str
) -> list[tuple[str, dict[str, Any], bytes]]:
    """(location, layer descriptor, blob) of the readable layers of the ``.sig`` / ``.att``
    image, at most ``MAX_CANDIDATES`` (for ``download``: nothing is verified)."""
    out = []
    for candidate in legacy_candidates(registry, ref, digest, suffix)[:MAX_CANDIDATES]:
        try:
            out.append((candidate.location, candidate.layer, candidate.fetch()))
        except Error:
            continue
    return out


def _is_signature(predicate_type: str) -> bool:
    return predicate_type == formats.SIGN_PREDICATE


def _not_examined(total: int, what: str) -> str:
    return (
        f"{total - MAX_CANDIDATES} more {what} were not examined (at most {MAX_CANDIDATES} are "
        "fetched and verified per image)"
    )


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
