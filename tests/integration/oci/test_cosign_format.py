"""An image signed in cosign's legacy ``.sig`` format, written by this test from the documented
format (spec/clients.md section 2.1) rather than by ``client.oci``: the simple-signing payload as
cosign's Go encoder prints it, the layer annotations (signature, certificate, chain, Rekor bundle)
built by hand from a real Fulcio certificate and Rekor entry of the ``stack``, the signature image
written as an OCI layout and pushed with skopeo. ``sigstack verify`` must accept it, and must
refuse it once the Rekor bundle annotation is altered."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.client import trust
from sigstack.client.cli import main
from sigstack.client.sign.oidc import IdentityToken
from sigstack.client.sign.signer import Signer

from .conftest import make_image, skopeo_copy, write_layout

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def _cosign_layer(stack: dict[str, Any], payload: bytes) -> dict[str, str]:
    opts = trust.TrustOptions(trust_config=str(stack["trust_config"]))
    signer = Signer(trust.signing_config(opts), None, IdentityToken.parse(stack["token"]()))
    bundle = signer.sign_digest(hashlib.sha256(payload).digest()).to_dict()
    vm = bundle["verificationMaterial"]
    (entry,) = vm["tlogEntries"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(vm["certificate"]["rawBytes"]))
    root = json.loads(Path(stack["trust_config"]).read_text())["trustedRoot"]
    chain = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
             for c in root["certificateAuthorities"][0]["certChain"]["certificates"]]  # fmt: skip
    rekor_bundle = {
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logIndex": int(entry["logIndex"]),
            "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
        },
    }
    return {
        "dev.cosignproject.cosign/signature": bundle["messageSignature"]["signature"],
        "dev.sigstore.cosign/certificate": leaf.public_bytes(Encoding.PEM).decode(),
        "dev.sigstore.cosign/chain": "".join(c.public_bytes(Encoding.PEM).decode() for c in chain),
        "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle),
    }


def _push_sig(tmp: Path, host: str, repo: str, digest: str, payload: bytes, ann: dict) -> None:
    config = json.dumps({
        "architecture": "", "created": "0001-01-01T00:00:00Z", "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(payload).hexdigest()]},
        "config": {},
    }).encode()  # fmt: skip
    tag = digest.replace(":", "-") + ".sig"
    layout = tmp / ("sig-" + hashlib.sha256(json.dumps(ann).encode()).hexdigest()[:8])
    write_layout(layout, tag, [(SIMPLESIGNING, payload, ann)], config)
    skopeo_copy(layout, tag, f"{host}/{repo}:{tag}")


def test_cosign_legacy_signature_verifies(stack, registry, tmp_path, capsys) -> None:
    repo = "cosign/signed"
    digest = make_image(tmp_path, f"{registry}/{repo}:v1")
    # what cosign's Go encoder emits for `cosign sign --new-bundle-format=false` without -a
    template = (
        '{"critical":{"identity":{"docker-reference":"REF"},"image":{"docker-manifest-digest":'
        '"DIGEST"},"type":"cosign container image signature"},"optional":null}'
    )
    payload = template.replace("REF", f"{registry}/{repo}").replace("DIGEST", digest).encode()
    ann = _cosign_layer(stack, payload)
    _push_sig(tmp_path, registry, repo, digest, payload, ann)
    argv = ["verify", f"{registry}/{repo}:v1", "--certificate-identity", stack["identity"],
            "--certificate-oidc-issuer", stack["issuer"], "--trust-config", str(stack["trust_config"])]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["critical"]["image"]["docker-manifest-digest"] == digest

    # the same layer with a Rekor bundle whose SET no longer matches (log index changed)
    rekor = json.loads(ann["dev.sigstore.cosign/bundle"])
    rekor["Payload"]["logIndex"] += 1000
    bad = {**ann, "dev.sigstore.cosign/bundle": json.dumps(rekor)}
    _push_sig(tmp_path, registry, repo, digest, payload, bad)
    assert main(argv) == 1
    assert "invalid inclusion promise (SET)" in capsys.readouterr().err
