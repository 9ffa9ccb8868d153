"""``verify-bundle`` (sigstore-conformance protocol), ``verify-blob`` and
``verify-blob-attestation`` (cosign's habits): parse, one library call, print."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.files import read_file

from .common import (
    PREDICATE_TYPES,
    ArgumentParser,
    add_trust_flags,
    is_digest_input,
    say,
    trust_options,
)

if TYPE_CHECKING:  # the commands import these on first use
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.client.verify.witness import WitnessPolicy

_GITHUB = ("trigger", "sha", "name", "repository", "ref")


def _parser(name: str, description: str, attestation: bool = False) -> argparse.ArgumentParser:
    p = ArgumentParser(name, description)
    p.add_argument(
        "input",
        metavar="FILE_OR_DIGEST",
        nargs="?" if attestation else None,
        help="the artifact, or sha256:<hex> of it",
    )
    p.add_argument("--bundle", required=True, metavar="FILE", help="the Sigstore bundle")
    p.add_argument("--certificate-identity", metavar="ID")
    p.add_argument("--certificate-identity-regexp", metavar="RE")
    p.add_argument("--certificate-oidc-issuer", metavar="URL")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE")
    p.add_argument("--key", metavar="PEM", help="verify a managed-key bundle with this public key")
    for what in _GITHUB:
        p.add_argument(f"--certificate-github-workflow-{what}", metavar="VALUE",
                       help=f"expected GitHub workflow {what} in the certificate")  # fmt: skip
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("--witness-policy", metavar="FILE", help="C2SP tlog-policy: the log checkpoint "
                   "must carry cosignatures from its quorum of witnesses (docs/witness.md)")  # fmt: skip
    if attestation:
        p.add_argument("--type", default=None, help="expected predicate type (URI or cosign alias)")
    add_trust_flags(p)
    return p


def _load_key(path: str) -> PublicKeyTypes:
    from cryptography.hazmat.primitives import serialization

    data = read_file(path, "key")
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValidationError(f"{path} is not a PEM public key") from None


def _witness_policy(path: str | None) -> WitnessPolicy | None:
    """The ``--witness-policy`` file, parsed (client.verify.witness), or None (without the flag
    the witness modules are not imported: they cost 3-4 ms of start-up)."""
    if not path:
        return None
    from sigstack.client.verify.witness import load_policy

    return load_policy(path)


def _run(ns: argparse.Namespace, attestation: bool) -> int:
    """Verify; with ``--output json`` a failure is a JSON object on stdout too (and the usual
    ``Error:`` line on stderr, exit 1)."""
    from sigstack.protocol.errors import Error

    try:
        return _verify(ns, attestation)
    except Error as exc:
        if ns.output == "json":
            print(json.dumps({"verified": False, "error": exc.message, "bundle": ns.bundle,
                              "input": ns.input}, indent=2))  # fmt: skip
        raise


def _verify(ns: argparse.Namespace, attestation: bool) -> int:
    from sigstack.client.trust import trusted_root
    from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
    from sigstack.protocol.bundle import Bundle

    bundle = Bundle.from_json(read_file(ns.bundle, "bundle"))
    witnessed = _witness_policy(ns.witness_policy)  # a bad policy file fails before verifying
    artifact = None
    if ns.input is not None:
        if is_digest_input(ns.input):
            artifact = Artifact.from_digest(ns.input.lower())
        else:
            artifact = Artifact.from_file(ns.input)
    verifier = Verifier(trusted_root(trust_options(ns)))
    if ns.key:
        if any((ns.certificate_identity, ns.certificate_identity_regexp)):
            raise ValidationError("--key and --certificate-identity* exclude each other")
        result = verifier.verify_with_key(bundle, artifact, _load_key(ns.key))
    else:
        policy = IdentityPolicy(
            identity=ns.certificate_identity,
            identity_regexp=ns.certificate_identity_regexp,
            issuer=ns.certificate_oidc_issuer,
            issuer_regexp=ns.certificate_oidc_issuer_regexp,
            extensions=tuple(
                (f"github_workflow_{what}", value)
                for what in _GITHUB
                if (value := getattr(ns, f"certificate_github_workflow_{what}")) is not None
            ),
        )
        if artifact is None:
            result = verifier.verify_dsse(bundle, policy)
        else:
            result = verifier.verify_artifact(bundle, artifact, policy)
    if witnessed is not None:
        from sigstack.client.verify.witness import require_witnessed

        result.checks.append(require_witnessed(bundle, witnessed))
    if attestation:
        from sigstack.client.verify.intoto import Statement

        if bundle.dsse_envelope is None:
            raise VerificationError("the bundle holds a plain signature, not an attestation")
        statement = result.statement or Statement.from_payload(
            bundle.dsse_envelope.payload_type, bundle.dsse_envelope.payload
        )
        result.statement = statement
        if ns.type:
            want = PREDICATE_TYPES.get(ns.type, ns.type)
            if statement.predicate_type != want:
                raise VerificationError(
                    f"the attestation's predicate type is {statement.predicate_type!r}, "
                    f"expected {want!r}"
                )
            result.checks.append(f"The predicate type is {want}")
    if ns.output == "json":
        out = result.to_dict()
        if attestation and result.payload is not None:
            out["statement"] = json.loads(result.payload)
        print(json.dumps(out, indent=2))
    else:
        say("Verification for " + (ns.input or ns.bundle) + " --")
        say("The following checks were performed on each of these signatures:")
        for check in result.checks:
            say(f"  - {check}")
        if result.identity:
            say(f"Certificate identity: {', '.join(result.identity)} (issuer {result.issuer})")
        say("Verified OK")
    return 0


def verify_bundle(argv: list[str]) -> int:
    """The sigstore-conformance verify entry point; any failure exits 1."""
    ns = _parser("verify-bundle", "Verify a Sigstore bundle (conformance protocol).").parse_args(
        argv
    )
    return _run(ns, attestation=False)


def verify_blob(argv: list[str]) -> int:
    ns = _parser("verify-blob", "Verify a blob against its Sigstore bundle.").parse_args(argv)
    return _run(ns, attestation=False)


def verify_blob_attestation(argv: list[str]) -> int:
    p = _parser("verify-blob-attestation", "Verify an in-toto attestation bundle.", True)
    return _run(p.parse_args(argv), attestation=True)
