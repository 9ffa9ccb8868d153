"""Image commands: ``sign``, ``verify``, ``attest``, ``verify-attestation``, ``download signature``
and ``triangulate`` (cosign's names and habits). Parse, build a registry client and a signer or
verifier from ``client.oci``, print cosign-style progress on stderr and payloads on stdout."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from sigstack.protocol.errors import ValidationError

from .common import (
    PREDICATE_TYPES,
    ArgumentParser,
    add_trust_flags,
    load_predicate,
    say,
    trust_options,
)

if TYPE_CHECKING:  # the commands import these on first use
    from sigstack.client.oci.reference import Reference
    from sigstack.client.oci.registry import Manifest, Registry
    from sigstack.client.oci.verify import ImageVerifier, Outcome, Verified
    from sigstack.client.sign.signer import Signer
    from sigstack.protocol.trust import TrustedRoot

_TAG_WARNING = (
    "WARNING: Image reference {ref} uses a tag, not a digest, to identify the image to sign.\n"
    "    This can lead you to sign a different image than the intended one. Please use a\n"
    "    digest (example.com/ubuntu@sha256:abc123...) rather than tag\n"
    "    (example.com/ubuntu:latest) for the input to sign. The ability to refer to images\n"
    "    by tag will be removed in a future release.\n"
)


def _bool_flags(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """cosign's boolean flags: ``--flag``, ``--flag=true``, ``--flag=false`` (a bare ``--flag``
    never takes the next word, so ``--flag IMAGE`` keeps IMAGE positional)."""
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name in names:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValidationError(f"{name} takes true or false, not {value!r}")
            if value.lower() in ("true", "1"):
                out.append(name)
            continue
        out.append(arg)
    return out


def _add_registry_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("registry")
    g.add_argument(
        "--allow-insecure-registry",
        "--allow-http-registry",
        action="store_true",
        help="allow plain HTTP and unverified TLS (loopback registries may always use HTTP)",
    )
    g.add_argument("--registry-username", help="instead of the docker config's credentials")
    g.add_argument("--registry-password", help="with --registry-username")


def _add_signing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--identity-token", metavar="JWT|FILE", help="OIDC token, or a file with one")
    p.add_argument("--oidc-client-id", default="sigstore")
    p.add_argument("--oidc-client-secret", default="")
    p.add_argument("--device", action="store_true", help="use the device flow to sign in")
    p.add_argument("-y", "--yes", action="store_true", help="accepted for cosign compatibility")
    p.add_argument("-r", "--recursive", action="store_true", help="also sign each platform")
    p.add_argument(
        "--new-bundle-format",
        action="store_true",
        help="store a v0.3 bundle as an OCI 1.1 referrer (=false: the legacy .sig/.att tag)",
    )
    _add_registry_flags(p)
    add_trust_flags(p, signing=True)


def _add_policy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--certificate-identity", metavar="ID")
    p.add_argument("--certificate-identity-regexp", metavar="RE")
    p.add_argument("--certificate-oidc-issuer", metavar="URL")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("--witness-policy", metavar="FILE", help="C2SP tlog-policy: each signature's "
                   "log checkpoint must carry cosignatures from its quorum of witnesses")  # fmt: skip
    _add_registry_flags(p)
    add_trust_flags(p)


def _reference_and_registry(ns: argparse.Namespace) -> tuple[Reference, Registry]:
    from sigstack.client.oci.auth import Credentials, credentials_for
    from sigstack.client.oci.reference import Reference
    from sigstack.client.oci.registry import Registry

    ref = Reference.parse(ns.image)
    creds: Credentials | None
    if ns.registry_username or ns.registry_password:
        if not (ns.registry_username and ns.registry_password):
            raise ValidationError("give both --registry-username and --registry-password")
        creds = Credentials(ns.registry_username, ns.registry_password)
    else:
        creds = credentials_for(ref.registry, os.environ)
    registry = Registry(ref.api_host, creds, ns.allow_insecure_registry, ref.is_loopback)
    return ref, registry


def _signer(ns: argparse.Namespace) -> tuple[Signer, TrustedRoot | None]:
    from .sign import make_signer

    return make_signer(ns, True, what="signatures")


def _sign_or_attest(ns: argparse.Namespace, predicate: tuple[str, Any] | None) -> int:
    from sigstack.client.oci.sign import ImageSigner, parse_annotations, targets

    annotations = parse_annotations(getattr(ns, "annotations", None))
    ref, registry = _reference_and_registry(ns)
    _, manifests = targets(registry, ref, ns.recursive)
    # A push the registry refuses must fail here, before a certificate is requested and a log
    # entry made for a signature that would never be stored.
    registry.check_push(ref.repository)
    if ref.digest is None:
        say(_TAG_WARNING.format(ref=ns.image))
    signer, root = _signer(ns)
    image_signer = ImageSigner(registry, signer, root, say)
    new_format = ns.new_bundle_format
    for manifest in manifests:
        if predicate is None and new_format:
            from sigstack.client.oci.formats import SIGN_PREDICATE

            image_signer.sign_referrer(ref, manifest, SIGN_PREDICATE, {}, annotations)
        elif predicate is None:
            image_signer.sign_legacy(ref, manifest, annotations)
        elif new_format:
            image_signer.sign_referrer(ref, manifest, predicate[0], predicate[1], None)
        else:
            image_signer.attest_legacy(ref, manifest, predicate[0], predicate[1])
    return 0


def sign(argv: list[str]) -> int:
    p = ArgumentParser("sign", "Sign a container image keylessly and push the signature.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "-a", "--annotations", action="append", metavar="KEY=VALUE", help="signed annotation"
    )
    _add_signing_flags(p)
    return _sign_or_attest(p.parse_args(_bool_flags(argv, ("--new-bundle-format",))), None)


def attest(argv: list[str]) -> int:

    p = ArgumentParser("attest", "Attest a container image: an in-toto statement, signed.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--predicate", required=True, metavar="FILE", help="the predicate JSON")
    p.add_argument("--type", default="custom", help="predicate type URI or cosign alias")
    _add_signing_flags(p)
    ns = p.parse_args(_bool_flags(argv, ("--new-bundle-format",)))
    predicate = load_predicate(ns.predicate)
    return _sign_or_attest(ns, (PREDICATE_TYPES.get(ns.type, ns.type), predicate))


def _verifier(ns: argparse.Namespace) -> tuple[Reference, ImageVerifier, Manifest]:
    from sigstack.client.oci.sign import parse_annotations
    from sigstack.client.oci.verify import ImageVerifier
    from sigstack.client.trust import trusted_root
    from sigstack.client.verify import IdentityPolicy

    policy = IdentityPolicy(
        identity=ns.certificate_identity,
        identity_regexp=ns.certificate_identity_regexp,
        issuer=ns.certificate_oidc_issuer,
        issuer_regexp=ns.certificate_oidc_issuer_regexp,
    )
    ref, registry = _reference_and_registry(ns)
    annotations = parse_annotations(getattr(ns, "annotations", None))
    from sigstack.client.verify.witness import load_policy

    verifier = ImageVerifier(registry, trusted_root(trust_options(ns)), policy, annotations,
                             witness_policy=load_policy(ns.witness_policy))  # fmt: skip
    return ref, verifier, verifier.resolve(ref)


def _report(ns: argparse.Namespace, ref: Reference, outcome: Outcome, what: str) -> None:
    outcome.require_some(ref, what)  # raises with every candidate's reason when none verified
    if ns.output == "json":
        return
    for location, reason in outcome.failures:
        say(f"Skipping {location}: {reason}")
    say(f"\nVerification for {ref.name}@{outcome.digest} --")
    say(f"The following checks were performed on each of these {what}s:")
    say("  - The cosign claims were validated")
    say("  - Existence of the claims in the transparency log was verified offline")
    say(
        "  - The code-signing certificate was verified using trusted certificate authority certificates"
    )
    for found in outcome.verified:
        r = found.result
        say(f"{what.capitalize()} {found.location}: {', '.join(r.identity)} (issuer {r.issuer})")
        for check in r.checks:
            say(f"    - {check}")


def verify(argv: list[str]) -> int:
    p = ArgumentParser("verify", "Verify the signatures of a container image.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-a", "--annotations", action="append", metavar="KEY=VALUE")
    _add_policy_flags(p)
    ns = p.parse_args(argv)
    ref, verifier, manifest = _verifier(ns)
    outcome = verifier.signatures(ref, manifest)
    _report(ns, ref, outcome, "signature")
    if ns.output == "json":
        print(json.dumps([_as_json(found) for found in outcome.verified], indent=2))
    else:
        print(json.dumps([found.document for found in outcome.verified]))
    return 0


def _as_json(found: Verified) -> dict[str, Any]:
    return {"location": found.location, **found.result.to_dict(), "payload": found.document}


def verify_attestation(argv: list[str]) -> int:
    p = ArgumentParser("verify-attestation", "Verify the attestations of a container image.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--type", default=None, help="expected predicate type (URI or cosign alias)")
    _add_policy_flags(p)
    ns = p.parse_args(argv)
    ref, verifier, manifest = _verifier(ns)
    want = PREDICATE_TYPES.get(ns.type, ns.type) if ns.type else None
    outcome = verifier.attestations(ref, manifest, want)
    _report(ns, ref, outcome, "attestation")
    for found in outcome.verified:
        print(json.dumps(_as_json(found) if ns.output == "json" else found.document))
    return 0


def download(argv: list[str]) -> int:
    """``download signature IMAGE``: bundles (one JSON per line), else legacy signed payloads."""
    p = ArgumentParser("download", "Download an image's signatures (no verification).")
    p.add_argument("kind", choices=("signature",), help="what to download")
    p.add_argument("image", metavar="IMAGE")
    _add_registry_flags(p)
    ns = p.parse_args(argv)
    from sigstack.client.oci import formats
    from sigstack.client.oci.verify import find_bundles, find_legacy_layers

    ref, registry = _reference_and_registry(ns)
    digest = registry.get_manifest(ref.repository, ref.identifier).digest
    bundles = find_bundles(registry, ref, digest)
    for _, raw in bundles:
        print(json.dumps(json.loads(raw)))
    if bundles:
        return 0
    layers = find_legacy_layers(registry, ref, digest, "sig")
    if not layers:
        raise ValidationError(f"no signatures found for {ref.name}@{digest}")
    for _, layer, blob in layers:
        ann = layer.get("annotations") or {}
        out: dict[str, Any] = {
            "Base64Signature": ann.get(formats.ANN_SIGNATURE, ""),
            "Payload": base64.b64encode(blob).decode(),
            "Cert": ann.get(formats.ANN_CERTIFICATE),
            "Chain": ann.get(formats.ANN_CHAIN),
            "Bundle": json.loads(ann[formats.ANN_BUNDLE]) if ann.get(formats.ANN_BUNDLE) else None,
        }
        print(json.dumps(out))
    return 0


def triangulate(argv: list[str]) -> int:
    p = ArgumentParser("triangulate", "Print where an image's signatures are stored.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "--type", default="signature", choices=("signature", "attestation", "sbom", "digest")
    )
    _add_registry_flags(p)
    ns = p.parse_args(argv)
    from sigstack.client.oci.formats import legacy_tag

    ref, registry = _reference_and_registry(ns)
    digest = ref.digest or registry.get_manifest(ref.repository, ref.identifier).digest
    if ns.type == "digest":
        print(f"{ref.name}@{digest}")
    else:
        suffix = {"signature": "sig", "attestation": "att", "sbom": "sbom"}[ns.type]
        print(f"{ref.name}:{legacy_tag(digest, suffix)}")
    return 0


def _main() -> int:  # pragma: no cover
    return verify(sys.argv[1:])
