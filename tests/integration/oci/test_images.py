"""Container images end to end: ``sigstack sign`` / ``verify`` / ``attest`` /
``verify-attestation`` / ``download`` / ``triangulate`` against a real distribution registry and
the project's own Fulcio, CT log and Rekor (the ``stack`` fixture). Refusals are checked by their
reason, not just the exit code."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sigstack.client.cli import main
from sigstack.client.oci import formats
from sigstack.client.oci.registry import OCI_INDEX, OCI_MANIFEST, Registry

from .conftest import PASSWORD, USER, make_image


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ctx(stack: dict[str, Any], registry: str, tmp_path: Path) -> dict[str, Any]:
    trust = ["--trust-config", str(stack["trust_config"])]
    policy = ["--certificate-identity", stack["identity"],
              "--certificate-oidc-issuer", stack["issuer"]]  # fmt: skip
    return {"trust": trust, "policy": policy, "stack": stack, "host": registry, "tmp": tmp_path}


def sign(capsys: Any, c: dict[str, Any], image: str, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys, "sign", image, "--identity-token", c["stack"]["token"](), *c["trust"], *extra
    )


def verify(capsys: Any, c: dict[str, Any], image: str, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "verify", image, *c["policy"], *c["trust"], *extra)


def test_sign_by_tag_then_verify_and_sign_again(ctx, capsys) -> None:
    image = f"{ctx['host']}/team/app:v1"
    digest = make_image(ctx["tmp"], image)
    code, _, err = sign(capsys, ctx, image, "-a", "build=42")
    assert code == 0, err
    assert "uses a tag, not a digest" in err
    tag = f"sha256-{digest.split(':')[1]}.sig"
    assert f"Pushing signature to: {ctx['host']}/team/app:{tag}" in err

    code, out, err = verify(capsys, ctx, image, "-a", "build=42")
    assert code == 0, err
    assert "The cosign claims were validated" in err
    assert "The code-signing certificate was verified using trusted certificate authority" in err
    (payload,) = json.loads(out)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert payload["critical"]["identity"]["docker-reference"] == f"{ctx['host']}/team/app"
    assert payload["critical"]["type"] == "cosign container image signature"
    assert payload["optional"]["build"] == "42"
    assert payload["optional"]["Subject"] == ctx["stack"]["identity"]

    # an annotation the signature does not carry is refused with that reason
    code, _, err = verify(capsys, ctx, image, "-a", "build=43")
    assert code == 1 and "lacks the annotation build=43" in err

    # signing again (by digest: no warning) appends a layer and keeps the first signature
    code, _, err = sign(
        capsys, ctx, f"{ctx['host']}/team/app@{digest}", "--new-bundle-format=false"
    )
    assert code == 0 and "uses a tag" not in err
    sig = Registry(ctx["host"], loopback=True).get_manifest("team/app", tag).json
    assert [layer["mediaType"] for layer in sig["layers"]] == [formats.SIMPLESIGNING] * 2
    for layer in sig["layers"]:
        assert {formats.ANN_SIGNATURE, formats.ANN_CERTIFICATE, formats.ANN_CHAIN,
                formats.ANN_BUNDLE} <= set(layer["annotations"])  # fmt: skip
    code, out, err = verify(capsys, ctx, image)
    assert code == 0 and len(json.loads(out)) == 2

    code, out, _ = run(capsys, "download", "signature", image)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 2
    assert json.loads(base64.b64decode(lines[0]["Payload"]))["critical"]
    assert lines[0]["Bundle"]["Payload"]["logIndex"] >= 0

    code, out, _ = run(capsys, "triangulate", image)
    assert (code, out.strip()) == (0, f"{ctx['host']}/team/app:{tag}")
    code, out, _ = run(capsys, "triangulate", image, "--type", "digest")
    assert out.strip() == f"{ctx['host']}/team/app@{digest}"


def test_new_bundle_format_uses_referrers_fallback_tag(ctx, capsys) -> None:
    image = f"{ctx['host']}/team/bundled:v1"
    digest = make_image(ctx["tmp"], image)
    code, _, err = sign(capsys, ctx, image, "--new-bundle-format", "-a", "env=prod")
    assert code == 0, err
    reg = Registry(ctx["host"], loopback=True)
    index = reg.get_manifest("team/bundled", digest.replace(":", "-"))
    assert index.media_type == OCI_INDEX
    (entry,) = index.json["manifests"]
    assert entry["artifactType"] == formats.BUNDLE_V03
    referrer = reg.get_manifest("team/bundled", entry["digest"]).json
    assert referrer["subject"]["digest"] == digest
    assert referrer["annotations"][formats.ANN_BUNDLE_PREDICATE] == formats.SIGN_PREDICATE
    assert reg.find_manifest("team/bundled", formats.legacy_tag(digest, "sig")) is None

    code, out, err = verify(capsys, ctx, image, "-a", "env=prod")
    assert code == 0, err
    (statement,) = json.loads(out)
    assert statement["predicateType"] == formats.SIGN_PREDICATE
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
    code, out, err = verify(capsys, ctx, image, "-o", "json")
    (found,) = json.loads(out)
    assert code == 0 and err == "" and found["verified"] is True
    assert found["location"].startswith(f"{ctx['host']}/team/bundled@sha256:")
    assert found["identity"] == [ctx["stack"]["identity"]] and found["logIndex"] >= 0
    assert "The DSSE envelope signature was verified" in found["checks"]
    assert found["payload"]["predicateType"] == formats.SIGN_PREDICATE

    # a second bundle is added to the fallback index, the first one stays
    assert sign(capsys, ctx, image, "--new-bundle-format=true")[0] == 0
    assert len(reg.get_manifest("team/bundled", digest.replace(":", "-")).json["manifests"]) == 2
    code, out, _ = run(capsys, "download", "signature", image)
    assert code == 0 and len(out.splitlines()) == 2
    assert json.loads(out.splitlines()[0])["mediaType"] == formats.BUNDLE_V03


def _signed(ctx: dict[str, Any], capsys: Any, repo: str) -> tuple[str, str, Registry, dict]:
    image = f"{ctx['host']}/{repo}:v1"
    digest = make_image(ctx["tmp"], image)
    assert sign(capsys, ctx, image)[0] == 0
    reg = Registry(ctx["host"], loopback=True)
    sig = reg.get_manifest(repo, formats.legacy_tag(digest, "sig")).json
    return image, digest, reg, sig


def _rewrite(reg: Registry, repo: str, tag: str, manifest: dict, blob: bytes | None = None) -> None:
    """Push a modified signature image (as an attacker with push access would)."""
    if blob is not None:
        layer = manifest["layers"][0]
        layer["digest"] = reg.put_blob(repo, blob)
        layer["size"] = len(blob)
    reg.put_manifest(repo, tag, json.dumps(manifest).encode(), OCI_MANIFEST)


def test_tampered_payload_is_refused(ctx, capsys) -> None:
    image, digest, reg, sig = _signed(ctx, capsys, "team/tampered")
    payload = reg.get_blob("team/tampered", sig["layers"][0]["digest"])
    doc = json.loads(payload)
    doc["optional"] = {"approved": "yes"}
    _rewrite(reg, "team/tampered", formats.legacy_tag(digest, "sig"), sig,
             json.dumps(doc).encode())  # fmt: skip
    code, out, err = verify(capsys, ctx, image)
    assert code == 1 and out == ""
    assert "the signature is not valid for the signed payload" in err


def test_wrong_identity_is_refused(ctx, capsys) -> None:
    image, *_ = _signed(ctx, capsys, "team/identity")
    code, _, err = run(capsys, "verify", image, "--certificate-identity", "mallory@example.com",
                       "--certificate-oidc-issuer", ctx["stack"]["issuer"], *ctx["trust"])  # fmt: skip
    assert code == 1
    assert "is not the expected 'mallory@example.com'" in err
    code, _, err = run(capsys, "verify", image, "--certificate-identity", ctx["stack"]["identity"],
                       "--certificate-oidc-issuer", "https://other.example", *ctx["trust"])  # fmt: skip
    assert code == 1 and "expected 'https://other.example'" in err


def test_signature_for_another_digest_is_refused(ctx, capsys) -> None:
    _, digest_a, reg, sig = _signed(ctx, capsys, "team/moved")
    image_b = f"{ctx['host']}/team/moved:v2"
    digest_b = make_image(ctx["tmp"], image_b)
    # copy A's valid signature image to B's signature tag
    _rewrite(reg, "team/moved", formats.legacy_tag(digest_b, "sig"), sig)
    code, _, err = verify(capsys, ctx, image_b)
    assert code == 1
    assert f"the signature is for manifest {digest_a}, not for the image's digest {digest_b}" in err


def test_deleted_certificate_annotation_is_refused(ctx, capsys) -> None:
    image, digest, reg, sig = _signed(ctx, capsys, "team/nocert")
    del sig["layers"][0]["annotations"][formats.ANN_CERTIFICATE]
    _rewrite(reg, "team/nocert", formats.legacy_tag(digest, "sig"), sig)
    code, _, err = verify(capsys, ctx, image)
    assert code == 1
    assert "the layer has no certificate annotation (dev.sigstore.cosign/certificate)" in err


def test_unsigned_image_reports_where_it_looked(ctx, capsys) -> None:
    image = f"{ctx['host']}/team/unsigned:v1"
    digest = make_image(ctx["tmp"], image)
    code, _, err = verify(capsys, ctx, image)
    assert code == 1
    assert f"no signatures found for {ctx['host']}/team/unsigned@{digest}" in err
    assert f"tag sha256-{digest.split(':')[1]}.sig" in err


def test_multi_arch_index_recursive(ctx, capsys) -> None:
    host = ctx["host"]
    children = [make_image(ctx["tmp"], f"{host}/team/multi:{arch}") for arch in ("amd64", "arm64")]
    reg = Registry(host, loopback=True)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {**reg.get_manifest("team/multi", d).descriptor(),
             "platform": {"os": "linux", "architecture": arch}}
            for d, arch in zip(children, ("amd64", "arm64"), strict=True)
        ],
    }  # fmt: skip
    raw = json.dumps(index).encode()
    index_digest, _ = reg.put_manifest("team/multi", "latest", raw, OCI_INDEX)
    code, _, err = sign(capsys, ctx, f"{host}/team/multi@{index_digest}", "--recursive")
    assert code == 0, err
    for digest in (index_digest, *children):
        assert reg.find_manifest("team/multi", formats.legacy_tag(digest, "sig")) is not None
        code, out, err = verify(capsys, ctx, f"{host}/team/multi@{digest}")
        assert code == 0, err
        assert json.loads(out)[0]["critical"]["image"]["docker-manifest-digest"] == digest
    # without --recursive only the index is signed
    other = make_image(ctx["tmp"], f"{host}/team/multi2:amd64")
    one = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [reg.get_manifest("team/multi2", other).descriptor()]}  # fmt: skip
    one_digest, _ = reg.put_manifest("team/multi2", "latest", json.dumps(one).encode(), OCI_INDEX)
    assert sign(capsys, ctx, f"{host}/team/multi2:latest")[0] == 0
    assert reg.find_manifest("team/multi2", formats.legacy_tag(one_digest, "sig")) is not None
    assert reg.find_manifest("team/multi2", formats.legacy_tag(other, "sig")) is None


@pytest.mark.parametrize("new_format", [False, True], ids=["att-tag", "referrer"])
def test_attest_then_verify_attestation(ctx, capsys, new_format: bool) -> None:
    repo = "team/attested-" + ("new" if new_format else "old")
    image = f"{ctx['host']}/{repo}:v1"
    digest = make_image(ctx["tmp"], image)
    predicate = ctx["tmp"] / "predicate.json"
    predicate.write_text(json.dumps({"buildType": "test", "ok": True}))
    extra = ["--new-bundle-format"] if new_format else []
    code, _, err = run(capsys, "attest", image, "--predicate", str(predicate), "--type",
                       "slsaprovenance1", "--identity-token", ctx["stack"]["token"](),
                       *ctx["trust"], *extra)  # fmt: skip
    assert code == 0, err
    reg = Registry(ctx["host"], loopback=True)
    att = reg.find_manifest(repo, formats.legacy_tag(digest, "att"))
    assert (att is None) == new_format
    if att is not None:
        (layer,) = att.json["layers"]
        assert layer["mediaType"] == formats.DSSE_LAYER
        assert layer["annotations"][formats.ANN_PREDICATE_TYPE] == "https://slsa.dev/provenance/v1"

    base = ["verify-attestation", image, *ctx["policy"], *ctx["trust"]]
    code, out, err = run(capsys, *base, "--type", "slsaprovenance1")
    assert code == 0, err
    envelope = json.loads(out.splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"] == {"buildType": "test", "ok": True}
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":")[1]

    code, _, err = run(capsys, *base, "--type", "spdxjson")
    assert code == 1 and "not 'https://spdx.dev/Document'" in err
    # an attestation is not a signature
    code, _, err = verify(capsys, ctx, image)
    assert code == 1 and "no signatures found" in err


def test_registry_with_basic_auth(stack, auth_registry, tmp_path, capsys, monkeypatch) -> None:
    ctx = {"trust": ["--trust-config", str(stack["trust_config"])], "stack": stack,
           "policy": ["--certificate-identity", stack["identity"],
                      "--certificate-oidc-issuer", stack["issuer"]]}  # fmt: skip
    image = f"{auth_registry}/secure/app:v1"
    digest = make_image(tmp_path, image, creds=f"{USER}:{PASSWORD}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker"))
    code, _, err = sign(capsys, ctx, image)
    assert code == 1 and "needs credentials" in err

    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"{USER}:wrong".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {auth_registry: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    code, _, err = verify(capsys, ctx, image)
    assert code == 1 and "denied pull access to secure/app (HTTP 401)" in err

    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {auth_registry: {"auth": auth}}}))
    code, _, err = sign(capsys, ctx, image)
    assert code == 0, err
    code, _, err = sign(capsys, ctx, image, "--new-bundle-format")
    assert code == 0, err
    code, out, err = verify(capsys, ctx, f"{auth_registry}/secure/app@{digest}")
    assert code == 0, err
    assert len(json.loads(out)) == 2  # the referrer bundle and the .sig layer

    # explicit flags win over the file
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker"))
    code, _, err = verify(capsys, ctx, image, "--registry-username", USER,
                          "--registry-password", PASSWORD)  # fmt: skip
    assert code == 0, err
