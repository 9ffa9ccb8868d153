"""Fuzzing Sigstore bundles, from the JSON parser to the end of verification: only
``protocol.errors.Error`` escapes.

Entry points: ``Bundle.from_json``, ``TransparencyLogEntry.from_json``, ``Statement.from_payload``
(in-toto), ``Artifact.from_digest``, and ``Verifier.verify_artifact`` / ``verify_dsse`` /
``verify_with_key`` on parsed bundles: against the staging and production trusted roots (with the
conformance cases' artifacts, any identity) and against the test kit's instance (bundles it
signs: hashedrekord, DSSE, managed key). Seeds: every bundle in tests/data and the kit's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.client.verify.intoto import Statement
from sigstack.protocol.bundle import Bundle, TransparencyLogEntry
from sigstack.protocol.trust import TrustedRoot
from tests.unit.client.kit import IDENTITY, ISSUER, Kit

from . import seeds
from .core import Target, property_tests

DATA = b"fuzzed artifact\n"
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "a", "digest": {"sha256": hashlib.sha256(DATA).hexdigest()}}],
    "predicateType": "https://example.com/p",
    "predicate": {"a": [1, 2, {"b": None}]},
}


@functools.cache
def kit() -> tuple[Kit, Verifier, ec.EllipticCurvePrivateKey]:
    k = Kit()
    return k, Verifier(k.trusted_root()), ec.generate_private_key(ec.SECP256R1())


@functools.cache
def kit_seeds() -> list[bytes]:
    k, _, key = kit()
    bundles = [k.sign_blob(DATA)[0], k.attest(STATEMENT), k.sign_with_key(DATA, key)]
    return [b.to_json().encode() for b in bundles]


def _case(name: str) -> tuple[Verifier, Artifact, IdentityPolicy]:
    case = seeds.CASES / name
    root = TrustedRoot.from_json((case / "trusted_root.json").read_bytes())
    if (case / "digest").exists():
        artifact = Artifact.from_digest((case / "digest").read_text().strip())
    else:
        artifact = Artifact(sha256=hashlib.sha256((case / "artifact").read_bytes()).digest())
    # any identity: the seeds of one instance come from different signers
    return Verifier(root), artifact, IdentityPolicy(identity_regexp="", issuer_regexp="")


@functools.cache
def staging() -> tuple[Verifier, Artifact, IdentityPolicy]:
    return _case("staging-v0.3-happy-path")


@functools.cache
def production() -> tuple[Verifier, Artifact, IdentityPolicy]:
    return _case("production-v0.2-github-actions-wheel")


def _real(prefix: str) -> list[bytes]:
    paths = sorted(seeds.CASES.glob(f"{prefix}*/bundle.sigstore.json"))
    return [p.read_bytes() for p in paths]


def staging_seeds() -> list[bytes]:
    return _real("staging-")


def production_seeds() -> list[bytes]:
    return _real("production-")


def all_bundles() -> list[bytes]:
    return seeds.bundles() + kit_seeds()


@functools.cache
def entry_seeds() -> list[bytes]:
    out = []
    for raw in all_bundles():
        for entry in json.loads(raw)["verificationMaterial"].get("tlogEntries", []):
            out.append(json.dumps(entry).encode())
    return out


@functools.cache
def payload_seeds() -> list[bytes]:
    out = []
    for raw in all_bundles():
        env = json.loads(raw).get("dsseEnvelope")
        if env:
            out.append(base64.b64decode(env["payload"]))
    return out


def _verify_with(context: tuple[Verifier, Artifact, IdentityPolicy], data: bytes) -> None:
    verifier, artifact, policy = context
    bundle = Bundle.from_json(data)
    verifier.verify_artifact(bundle, artifact, policy)
    if bundle.dsse_envelope is not None:
        verifier.verify_dsse(bundle, policy)


def _verify_kit(data: bytes) -> None:
    _, verifier, key = kit()
    bundle = Bundle.from_json(data)
    artifact = Artifact(sha256=hashlib.sha256(DATA).digest())
    if bundle.verification_material.public_key_hint is not None:
        verifier.verify_with_key(bundle, artifact, key.public_key())
        return
    _verify_with((verifier, artifact, IdentityPolicy(identity=IDENTITY, issuer=ISSUER)), data)


TARGETS = [
    Target("Bundle.from_json", Bundle.from_json, all_bundles),
    Target("TransparencyLogEntry.from_json", TransparencyLogEntry.from_json, entry_seeds),
    Target(
        "Statement.from_payload",
        lambda d: Statement.from_payload("application/vnd.in-toto+json", d),
        payload_seeds,
    ),
    Target("Artifact.from_digest", lambda d: Artifact.from_digest(d.decode("utf-8", "replace"))),
    Target("verify(kit)", _verify_kit, kit_seeds),
    Target("verify(staging)", lambda d: _verify_with(staging(), d), staging_seeds),
    Target("verify(production)", lambda d: _verify_with(production(), d), production_seeds),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
