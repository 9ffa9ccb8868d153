"""Fuzzing what the OCI client reads from registries: only ``protocol.errors.Error`` escapes.

Entry points: manifests and image indexes (``Manifest.json``, ``registry._index_entries``, the
layer walk of ``verify.legacy_candidates``), registry error bodies (``registry._detail``),
``WWW-Authenticate`` challenges (``auth.parse_challenge``), image references
(``Reference.parse``), docker config files (``auth.credentials_for``, credential helpers left
out: they run programs), cosign's layer formats (``formats.parse_rekor_bundle``,
``parse_envelope``, ``check_simple_signing``) and a whole legacy ``.sig`` layer descriptor
through ``LegacyVerifier.verify_signature`` against the test kit's instance. Seeds: documents
built by ``client.oci.formats`` over material the kit signs, and real-world header and reference
shapes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.oci import auth, formats, registry
from sigstack.client.oci.legacy import LegacyVerifier
from sigstack.client.oci.reference import Reference
from sigstack.client.verify import IdentityPolicy
from sigstack.protocol import strictjson
from sigstack.protocol.bundle import DsseEnvelope, DsseSignature
from tests.support.entries import hashedrekord_body
from tests.unit.client.kit import IDENTITY, ISSUER, Kit, pem

from .core import Target, property_tests, text

DIGEST = "sha256:" + hashlib.sha256(b"image").hexdigest()
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


@functools.cache
def legacy() -> tuple[LegacyVerifier, bytes, dict[str, str]]:
    kit = Kit()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = kit.leaf(key)
    payload = formats.simple_signing_payload("registry.test/app", DIGEST, {"k": "v"})
    sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    body = hashedrekord_body(hashlib.sha256(payload).digest(), sig, pem(cert))
    annotations = {
        formats.ANN_SIGNATURE: base64.b64encode(sig).decode(),
        formats.ANN_CERTIFICATE: pem(cert).decode(),
        formats.ANN_BUNDLE: formats.rekor_bundle_annotation(kit.log_entry(body)),
    }
    return LegacyVerifier(kit.trusted_root()), payload, annotations


@functools.cache
def layer_seeds() -> list[bytes]:
    _, payload, annotations = legacy()
    layer = formats.descriptor(formats.SIMPLESIGNING, payload, annotations)
    return [json.dumps(layer).encode()]


def _legacy_layer(data: bytes) -> None:
    verifier, payload, _ = legacy()
    layer = strictjson.loads_object(data, "layer")
    annotations = layer.get("annotations") or {}
    if not isinstance(annotations, dict):
        return  # verify.py refuses a layer whose annotations are not a map before this
    verifier.verify_signature(annotations, payload, POLICY)


@functools.cache
def manifest_seeds() -> list[bytes]:
    _, payload, annotations = legacy()
    layer = formats.descriptor(formats.SIMPLESIGNING, payload, annotations)
    config = formats.signature_config([layer])
    signature = formats.signature_manifest(config, [layer], {"a": "b"})
    subject = {"mediaType": registry.OCI_MANIFEST, "digest": DIGEST, "size": 5}
    referrer = formats.referrer_manifest(b"{}", subject, "https://slsa.dev/provenance/v1")
    index = {"schemaVersion": 2, "mediaType": registry.OCI_INDEX, "manifests": [
        {"mediaType": registry.OCI_MANIFEST, "digest": DIGEST, "size": 5,
         "artifactType": formats.BUNDLE_V03, "annotations": {formats.ANN_BUNDLE_PREDICATE: "x"}}]}  # fmt: skip
    return [signature, referrer, json.dumps(index).encode(), config]


def _manifest(data: bytes) -> None:
    manifest = registry.Manifest(registry.OCI_MANIFEST, data, registry.sha256_digest(data))
    doc = manifest.json
    layers = doc.get("layers") or []
    if isinstance(layers, list):
        [layer.get("digest") for layer in layers if isinstance(layer, dict)]
    registry._detail(data)
    registry._index_entries(data, "index")


@functools.cache
def envelope_seeds() -> list[bytes]:
    env = DsseEnvelope(b'{"_type": "x"}', "application/vnd.in-toto+json", (DsseSignature(b"s"),))
    return [formats.envelope_json(env)]


def _docker_config(data: bytes) -> None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):  # credential helpers run programs: not fuzzed
        doc.pop("credHelpers", None)
        doc.pop("credsStore", None)
        data = json.dumps(doc).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "config.json").write_bytes(data)
        auth.credentials_for("registry.test", {"DOCKER_CONFIG": folder, "HOME": folder})


def docker_config_seeds() -> list[bytes]:
    basic = base64.b64encode(b"user:pass").decode()
    return [json.dumps({"auths": {"registry.test": {"auth": basic},
                                  "https://index.docker.io/v1/": {"username": "u",
                                                                  "password": "p"}}}).encode()]  # fmt: skip


TARGETS = [
    Target("legacy .sig layer", _legacy_layer, layer_seeds),
    Target("manifest / index / error body", _manifest, manifest_seeds),
    Target(
        "parse_rekor_bundle",
        lambda d: formats.parse_rekor_bundle(text(d)),
        lambda: [legacy()[2][formats.ANN_BUNDLE].encode()],
    ),  # fmt: skip
    Target("parse_envelope", formats.parse_envelope, envelope_seeds),
    Target(
        "check_simple_signing",
        lambda d: formats.check_simple_signing(d, DIGEST, {"k": "v"}),
        lambda: [legacy()[1]],
    ),  # fmt: skip
    Target(
        "parse_challenge",
        lambda d: auth.parse_challenge(text(d)),
        lambda: [
            b'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a:pull"',
            b'Basic realm="registry"',
        ],
    ),  # fmt: skip
    Target(
        "Reference.parse",
        lambda d: Reference.parse(text(d)),
        lambda: [
            b"registry.test:5000/team/app:v1@sha256:" + b"a" * 64,
            b"ubuntu",
            b"[::1]:5000/a/b:c",
        ],
    ),  # fmt: skip
    Target("docker config", _docker_config, docker_config_seeds),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
