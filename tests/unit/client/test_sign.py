"""Signing end to end over real HTTP against the fake stack: sign-blob, attest-blob and
sign-bundle write v0.3 bundles that our verifier and sigstore-python 4.5.1 both accept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from sigstack.client.cli import main
from sigstack.client.sign import oidc
from sigstack.protocol.bundle import MEDIA_TYPE_V03, Bundle
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.trust import ClientTrustConfig

from .fakes import FakeStack, token
from .kit import IDENTITY, ISSUER, Kit

SIGSTORE = Path(sys.executable).with_name("sigstore")


@pytest.fixture(scope="module")
def stack():
    fake = FakeStack(Kit())
    yield fake
    fake.close()


@pytest.fixture
def files(stack: FakeStack, tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "trusted_root.json"
    root.write_text(stack.kit.trusted_root().to_json())
    config = tmp_path / "signing_config.json"
    config.write_text(stack.signing_config().to_json())
    trust = tmp_path / "trust_config.json"
    trust.write_text(ClientTrustConfig(stack.kit.trusted_root(), stack.signing_config()).to_json())
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"hello, sigstack\n" * 1000)
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"buildType": "test"}))
    return {"root": root, "config": config, "trust": trust, "artifact": artifact,
            "predicate": predicate, "bundle": tmp_path / "out.sigstore.json"}  # fmt: skip


def _verify(files: dict[str, Path], *extra: str, target: str | None = None) -> int:
    return main(["verify-bundle", "--bundle", str(files["bundle"]),
                 "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
                 "--trusted-root", str(files["root"]), *extra,
                 target or str(files["artifact"])])  # fmt: skip


def _sigstore_python(files: dict[str, Path], target: str) -> subprocess.CompletedProcess[str]:
    placeholder = json.loads(files["trust"].read_text())
    placeholder["signingConfig"] = {
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    }
    tc = files["bundle"].with_name("sp_trust.json")
    tc.write_text(json.dumps(placeholder))
    return subprocess.run(
        [str(SIGSTORE), "--trust-config", str(tc), "verify", "identity", "--offline",
         "--bundle", str(files["bundle"]), "--cert-identity", IDENTITY,
         "--cert-oidc-issuer", ISSUER, target],
        capture_output=True, text=True, env={**os.environ, "HOME": str(tc.parent)},
    )  # fmt: skip


def test_sign_bundle_conformance_round_trip(stack, files, capsys) -> None:
    code = main(["sign-bundle", "--identity-token", token(), "--bundle", str(files["bundle"]),
                 "--trusted-root", str(files["root"]), "--signing-config", str(files["config"]),
                 str(files["artifact"])])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    bundle = Bundle.from_json(files["bundle"].read_text())
    assert bundle.media_type == MEDIA_TYPE_V03
    assert _verify(files) == 0
    digest = "sha256:" + hashlib.sha256(files["artifact"].read_bytes()).hexdigest()
    assert _verify(files, target=digest) == 0
    files["artifact"].write_bytes(b"tampered")
    assert _verify(files) == 1


@pytest.mark.skipif(not SIGSTORE.exists(), reason="sigstore-python is not installed")
def test_sigstore_python_verifies_our_bundle(stack, files) -> None:
    assert main(["sign-blob", str(files["artifact"]), "--bundle", str(files["bundle"]),
                 "--identity-token", token(), "--trust-config", str(files["trust"])]) == 0  # fmt: skip
    proc = _sigstore_python(files, str(files["artifact"]))
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout + proc.stderr
    files["artifact"].write_bytes(b"other")
    assert _sigstore_python(files, str(files["artifact"])).returncode != 0


def test_sign_blob_progress_lines(stack, files, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token())
    assert main(["sign-blob", str(files["artifact"]), "--bundle", str(files["bundle"]),
                 "--trust-config", str(files["trust"])]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "Generating ephemeral keys..." in err
    assert "Retrieving signed certificate..." in err
    assert "Wrote bundle to file" in err
    assert main(["verify-blob", str(files["artifact"]), "--bundle", str(files["bundle"]),
                 "--certificate-identity-regexp", "^alice@", "--certificate-oidc-issuer", ISSUER,
                 "--trusted-root", str(files["root"])]) == 0  # fmt: skip
    assert "The following checks were performed" in capsys.readouterr().err


def test_attest_blob_and_verify(stack, files, capsys) -> None:
    assert main(["attest-blob", str(files["artifact"]), "--predicate", str(files["predicate"]),
                 "--type", "slsaprovenance1", "--bundle", str(files["bundle"]),
                 "--identity-token", token(), "--trust-config", str(files["trust"])]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["verify-blob-attestation", str(files["artifact"]), "--bundle", str(files["bundle"]),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
            "--trusted-root", str(files["root"]), "--output", "json"]  # fmt: skip
    assert main([*args, "--type", "slsaprovenance1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicateType"] == "https://slsa.dev/provenance/v1"
    assert out["statement"]["predicate"] == {"buildType": "test"}
    assert main([*args, "--type", "spdx"]) == 1
    assert _verify(files) == 0  # the conformance path: the artifact is a subject
    if SIGSTORE.exists():  # sigstore-python's DSSE path: payload type, statement v1, named subject
        proc = _sigstore_python(files, str(files["artifact"]))
        assert proc.returncode == 0, proc.stderr


def test_sign_bundle_in_toto(stack, files) -> None:
    digest = hashlib.sha256(files["artifact"].read_bytes()).hexdigest()
    statement = files["artifact"].with_name("statement.json")
    statement.write_text(json.dumps({"_type": "https://in-toto.io/Statement/v1",
                                     "subject": [{"name": "a", "digest": {"sha256": digest}}],
                                     "predicateType": "https://example.com/p", "predicate": {}}))  # fmt: skip
    assert main(["sign-bundle", "--in-toto", "--identity-token", token(), "--bundle",
                 str(files["bundle"]), "--trusted-root", str(files["root"]), "--signing-config",
                 str(files["config"]), str(statement)]) == 0  # fmt: skip
    assert _verify(files) == 0


def test_token_audience_and_expiry() -> None:
    with pytest.raises(ValidationError, match="audience"):
        oidc.IdentityToken.parse(token(aud="other"))
    with pytest.raises(ValidationError, match="expired"):
        oidc.IdentityToken.parse(token(exp=1))
    with pytest.raises(ValidationError, match="not a JWT"):
        oidc.IdentityToken.parse("abc")
    assert oidc.IdentityToken.parse(token()).identity == IDENTITY


def test_browser_flow_with_pkce_state_nonce(stack) -> None:
    seen: list[str] = []

    def browser(url: str) -> bool:
        seen.append(url)
        # play the browser: follow the IdP's redirect to the loopback listener
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310
            resp.read()
        return True

    raw = oidc.browser_flow(stack.url + "/oidc", open_url=browser, out=open(os.devnull, "w"))
    assert oidc.IdentityToken.parse(raw).identity == IDENTITY
    assert "code_challenge_method=S256" in seen[0] and "nonce=" in seen[0] and "state=" in seen[0]


def test_browser_flow_rejects_wrong_state(stack) -> None:
    def forged(url: str) -> bool:
        from urllib.parse import parse_qs, urlsplit

        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        with urllib.request.urlopen(redirect + "?code=x&state=forged", timeout=10) as r:  # noqa: S310
            r.read()
        return True

    with pytest.raises(ValidationError, match="state"):
        oidc.browser_flow(stack.url + "/oidc", open_url=forged, out=open(os.devnull, "w"))


def test_device_flow(stack, capsys) -> None:
    stack.device_polls = 0
    raw = oidc.device_flow(stack.url + "/oidc", out=sys.stderr, sleep=lambda _s: None)
    assert oidc.IdentityToken.parse(raw).identity == IDENTITY
    assert "ABCD-EFGH" in capsys.readouterr().err
    assert stack.device_polls == 2


def test_identity_token_from_file(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text(token() + "\n")
    assert oidc.get_token(str(path), {}, None).identity == IDENTITY
    assert oidc.get_token(None, {"SIGSTORE_ID_TOKEN": token()}, None).identity == IDENTITY
    assert shutil.which  # noqa: B018


@pytest.mark.parametrize("given", ["", "  ", "\n"])
def test_an_empty_identity_token_is_an_error_not_a_sign_in(given: str) -> None:
    # What `--identity-token "$(a failed one-liner)"` passes: it must not start a device sign-in.
    with pytest.raises(ValidationError, match="--identity-token is empty"):
        oidc.get_token(given, {}, "https://issuer.example", interactive=False)
    with pytest.raises(ValidationError, match="SIGSTORE_ID_TOKEN is set but empty"):
        oidc.get_token(None, {"SIGSTORE_ID_TOKEN": given}, "https://issuer.example")


def test_sign_blob_with_an_empty_token_fails_at_once(files, capsys) -> None:
    code = main(["sign-blob", str(files["artifact"]), "--bundle", str(files["bundle"]),
                 "--trust-config", str(files["trust"]), "--identity-token", ""])  # fmt: skip
    assert code == 1
    assert "--identity-token is empty" in capsys.readouterr().err
    assert not files["bundle"].exists()


@pytest.mark.parametrize(("error", "words"), [
    ("expired_token", "the sign-in code expired before anyone signed in"),
    ("access_denied", "sign-in was refused"),
])  # fmt: skip
def test_device_flow_says_how_long_it_waits_and_why_it_ended(stack, capsys, error, words) -> None:
    stack.device_polls, stack.device_outcome = 0, error
    try:
        with pytest.raises(ValidationError, match=words):
            oidc.device_flow(stack.url + "/oidc", out=sys.stderr, sleep=lambda _s: None)
    finally:
        stack.device_outcome = "id_token"
    err = capsys.readouterr().err
    assert "waiting up to 1 minute" in err and "Ctrl-C" in err


@pytest.mark.parametrize("command", ["sign-blob", "attest-blob", "sign-bundle"])
def test_an_unwritable_bundle_path_fails_before_any_service_is_called(stack, files, capsys,
                                                                       command) -> None:  # fmt: skip
    before = list(stack.requests)
    extra = ["--predicate", str(files["predicate"])] if command == "attest-blob" else []
    for bad in (files["bundle"].parent / "no" / "such" / "dir" / "x.json", files["bundle"].parent):
        code = main([command, str(files["artifact"]), "--bundle", str(bad), *extra,
                     "--trust-config", str(files["trust"]), "--identity-token", token()])  # fmt: skip
        assert code == 1
        assert f"cannot write the bundle to {bad}" in capsys.readouterr().err
    assert stack.requests == before  # no certificate asked for, no log entry made


def test_sign_blob_json_output_says_what_was_signed(stack, files, capsys) -> None:
    code = main(["sign-blob", str(files["artifact"]), "--bundle", str(files["bundle"]),
                 "--trust-config", str(files["trust"]), "--identity-token", token(),
                 "--output", "json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bundle"] == str(files["bundle"]) and isinstance(out["logIndex"], int)
    assert out["identity"] == IDENTITY and out["issuer"] == ISSUER
    assert out["certificate"]["notBefore"] < out["certificate"]["notAfter"]
    assert out["logId"] and out["integratedTime"]


def test_failed_verify_prints_a_json_object_too(files, capsys) -> None:
    files["bundle"].write_text("{}")
    code = _verify(files, "--output", "json")
    captured = capsys.readouterr()
    assert code == 1 and captured.err.startswith("Error: ")
    out = json.loads(captured.out)
    assert out["verified"] is False and out["error"] and out["bundle"] == str(files["bundle"])
