"""Signing and attesting container images: cosign's two storage forms.

``ImageSigner`` takes a ready ``client.sign.Signer`` (certificate, Rekor, self-check) and a
``Registry``. Legacy form: the simple-signing payload (or a DSSE envelope for attestations) is
signed, then appended as a layer to the ``sha256-<hex>.sig`` (``.att``) signature image; earlier
layers are kept. New form (``--new-bundle-format``): an in-toto statement signed as DSSE, the v0.3
bundle pushed as an OCI 1.1 referrer of the image (``Registry.push_referrer`` keeps the
tag-schema fallback when the registry has no referrers API).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.trust import TrustedRoot

from . import formats
from .reference import Reference
from .registry import OCI_MANIFEST, Manifest, Registry

if TYPE_CHECKING:
    from sigstack.client.sign.signer import Signer


def targets(registry: Registry, ref: Reference, recursive: bool) -> tuple[Manifest, list[Manifest]]:
    """The manifest ``ref`` names, and what to sign: it, plus each platform of an index with
    ``recursive``."""
    top = registry.get_manifest(ref.repository, ref.identifier)
    out = [top]
    if recursive and top.is_index:
        for child in top.json.get("manifests") or []:
            if isinstance(child, dict) and isinstance(child.get("digest"), str):
                out.append(registry.get_manifest(ref.repository, child["digest"]))
    return top, out


class ImageSigner:
    def __init__(
        self,
        registry: Registry,
        signer: Signer,
        trusted_root: TrustedRoot | None,
        progress: Callable[[str], None],
    ) -> None:
        self.registry = registry
        self.signer = signer
        self.root = trusted_root
        self.progress = progress

    # -- legacy tag scheme ---------------------------------------------------------------------

    def sign_legacy(self, ref: Reference, manifest: Manifest, annotations: dict[str, str]) -> str:
        payload = formats.simple_signing_payload(ref.name, manifest.digest, annotations)
        bundle = self.signer.sign_digest(hashlib.sha256(payload).digest())
        assert bundle.message_signature is not None
        layer_annotations = self._material(bundle)
        layer_annotations[formats.ANN_SIGNATURE] = base64.b64encode(
            bundle.message_signature.signature
        ).decode()
        tag = formats.legacy_tag(manifest.digest, "sig")
        self.progress(f"Pushing signature to: {ref.name}:{tag}")
        self._append(ref, tag, formats.SIMPLESIGNING, payload, layer_annotations, None)
        return f"{ref.name}:{tag}"

    def attest_legacy(
        self, ref: Reference, manifest: Manifest, predicate_type: str, predicate: Any
    ) -> str:
        statement = formats.intoto_statement(manifest.digest, predicate_type, predicate, None)
        bundle = self.signer.sign_dsse(statement)
        assert bundle.dsse_envelope is not None
        layer_annotations = self._material(bundle)
        layer_annotations[formats.ANN_SIGNATURE] = ""
        layer_annotations[formats.ANN_PREDICATE_TYPE] = predicate_type
        tag = formats.legacy_tag(manifest.digest, "att")
        self.progress(f"Pushing attestation to: {ref.name}:{tag}")
        blob = formats.envelope_json(bundle.dsse_envelope)
        self._append(
            ref,
            tag,
            formats.DSSE_LAYER,
            blob,
            layer_annotations,
            {formats.ANN_PREDICATE_TYPE: predicate_type},
        )
        return f"{ref.name}:{tag}"

    def _material(self, bundle: Bundle) -> dict[str, str]:
        """Certificate, chain and Rekor bundle annotations for a layer."""
        vm = bundle.verification_material
        der = vm.leaf_certificate
        assert der is not None
        leaf = x509.load_der_x509_certificate(der)
        out = {
            formats.ANN_CERTIFICATE: leaf.public_bytes(serialization.Encoding.PEM).decode(),
            formats.ANN_BUNDLE: formats.rekor_bundle_annotation(vm.tlog_entries[0]),
        }
        if self.root is not None:
            from sigstack.client.verify.certs import ChainVerifier

            chain = ChainVerifier(self.root).verify_at(leaf, datetime.now(UTC))
            out[formats.ANN_CHAIN] = "".join(
                c.public_bytes(serialization.Encoding.PEM).decode() for c in chain
            )
        return out

    def _append(
        self,
        ref: Reference,
        tag: str,
        media_type: str,
        blob: bytes,
        annotations: dict[str, str],
        manifest_annotations: dict[str, str] | None,
    ) -> None:
        repo = ref.repository
        existing = self.registry.find_manifest(repo, tag)
        layers: list[dict[str, Any]] = []
        if existing is not None:
            found = existing.json.get("layers")
            if not isinstance(found, list):
                raise ValidationError(f"{ref.name}:{tag} exists and is not a signature image")
            layers = [layer for layer in found if isinstance(layer, dict)]
            manifest_annotations = {
                **(existing.json.get("annotations") or {}),
                **(manifest_annotations or {}),
            }
        self.registry.put_blob(repo, blob)
        layers.append(formats.descriptor(media_type, blob, annotations))
        config = formats.signature_config(layers)
        self.registry.put_blob(repo, config)
        raw = formats.signature_manifest(config, layers, manifest_annotations)
        self.registry.put_manifest(repo, tag, raw, OCI_MANIFEST)

    # -- new bundle format (OCI 1.1 referrers) -------------------------------------------------

    def sign_referrer(
        self,
        ref: Reference,
        manifest: Manifest,
        predicate_type: str,
        predicate: Any,
        annotations: dict[str, str] | None,
    ) -> str:
        statement = formats.intoto_statement(
            manifest.digest, predicate_type, predicate, annotations
        )
        bundle = self.signer.sign_dsse(statement)
        bundle_json = bundle.to_json(indent=None).encode()
        repo = ref.repository
        self.registry.put_blob(repo, formats.EMPTY_BLOB)
        self.registry.put_blob(repo, bundle_json)
        raw = formats.referrer_manifest(bundle_json, manifest.descriptor(), predicate_type)
        self.progress(f"Pushing bundle to: {ref.name} (referrer of {manifest.digest})")
        digest = self.registry.push_referrer(repo, raw, manifest.digest, formats.BUNDLE_V03)
        return f"{ref.name}@{digest}"


def parse_annotations(items: list[str] | None) -> dict[str, str]:
    """``-a key=value`` flags."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"annotation {item!r} is not key=value")
        out[key] = value
    return out
