"""The real clients against a stack started with ``sigstack up`` (issue: the whole stack).

1. sigstore-python 4.5.1 signs with our Fulcio and Rekor and verifies its bundle.
2. Our client verifies sigstore-python's bundle; sigstore-python verifies ours.
3. @sigstore/cli 0.10.3 verifies with trust taken only from our TUF mirror.
4. ``sigstack initialize`` from the TUF mirror, then verification with TUF trust alone.
5. ``sigstack sign-blob`` through the browser flow, Chromium filling in our login page.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import NPM_SIGSTORE, SIGSTORE_PY, Stack, run, sigstack
from tests.support.browser import chromium, sign_blob_in_browser

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]


def _artifact(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "artifact.txt"
    path.write_text(text)
    return path


def _py_verify(stack: Stack, bundle: Path, artifact: Path, identity: str | None = None):
    return run([str(SIGSTORE_PY), "--trust-config", str(stack.trust_config), "verify", "identity",
                "--offline", "--bundle", str(bundle), "--cert-identity", identity or stack.identity,
                "--cert-oidc-issuer", stack.urls["oidc"], str(artifact)])  # fmt: skip


def _our_verify(stack: Stack, bundle: Path, artifact: Path, *trust: str):
    trust = trust or ("--trust-config", str(stack.trust_config))
    return sigstack("verify-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--certificate-identity", stack.identity,
                    "--certificate-oidc-issuer", stack.urls["oidc"])  # fmt: skip


def test_sigstore_python_signs_and_verifies_against_our_stack(stack: Stack, tmp_path) -> None:
    artifact, bundle = _artifact(tmp_path, "signed by sigstore-python\n"), tmp_path / "py.json"
    signed = run([str(SIGSTORE_PY), "--trust-config", str(stack.trust_config), "sign",
                  "--identity-token", stack.token(), "--bundle", str(bundle), str(artifact)])  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verified = _py_verify(stack, bundle, artifact)
    assert verified.returncode == 0 and "OK" in verified.stdout + verified.stderr, verified.stderr
    wrong = _py_verify(stack, bundle, artifact, identity="someone@else.example")
    assert wrong.returncode != 0
    ours = _our_verify(stack, bundle, artifact)
    assert ours.returncode == 0, ours.stderr
    artifact.write_text("tampered\n")
    assert _our_verify(stack, bundle, artifact).returncode != 0
    assert _py_verify(stack, bundle, artifact).returncode != 0


def test_sigstore_python_verifies_our_bundle(stack: Stack, tmp_path) -> None:
    artifact, bundle = _artifact(tmp_path, "signed by sigstack\n"), tmp_path / "ours.json"
    signed = sigstack("sign-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                      str(stack.trust_config), "--identity-token", stack.token())  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verified = _py_verify(stack, bundle, artifact)
    assert verified.returncode == 0, verified.stderr


def test_sigstore_js_verifies_with_trust_from_our_tuf_mirror(stack: Stack, tmp_path) -> None:
    if not NPM_SIGSTORE.exists():
        pytest.skip("needs @sigstore/cli 0.10.3 in .cache/npm (.ci/system-deps installs it)")
    artifact, bundle = _artifact(tmp_path, "for sigstore-js\n"), tmp_path / "b.json"
    signed = sigstack("sign-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                      str(stack.trust_config), "--identity-token", stack.token())  # fmt: skip
    assert signed.returncode == 0, signed.stderr

    def js(identity: str) -> subprocess.CompletedProcess[str]:
        return run([str(NPM_SIGSTORE), "verify", str(bundle), "--blob-file", str(artifact),
                    "--certificate-identity-email", identity,
                    "--certificate-issuer", stack.urls["oidc"],
                    "--tuf-mirror-url", stack.urls["tuf"],
                    "--tuf-root-path", str(stack.data / "tuf" / "root.json"),
                    "--tuf-cache-path", str(tmp_path / "js-cache")])  # fmt: skip

    ok = js(stack.identity)
    assert ok.returncode == 0 and "Verification succeeded" in ok.stdout + ok.stderr, ok.stderr
    assert js("nobody@example.com").returncode != 0


def test_initialize_from_tuf_then_verify_with_tuf_trust_alone(stack: Stack, tmp_path) -> None:
    env = {"TUF_ROOT": str(tmp_path / "tuf-cache"), "SIGSTORE_ROOT_FILE": "",
           "SIGSTORE_REKOR_PUBLIC_KEY": "", "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": ""}  # fmt: skip
    init = sigstack("initialize", "--mirror", stack.urls["tuf"], "--root",
                    str(stack.data / "tuf" / "root.json"), env=env)  # fmt: skip
    assert init.returncode == 0, init.stderr
    artifact, bundle = _artifact(tmp_path, "trust from TUF\n"), tmp_path / "t.json"
    signed = sigstack("sign-blob", str(artifact), "--bundle", str(bundle),
                      "--identity-token", stack.token(), env=env)  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verified = sigstack("verify-blob", str(artifact), "--bundle", str(bundle),
                        "--certificate-identity", stack.identity,
                        "--certificate-oidc-issuer", stack.urls["oidc"], env=env)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    offline = sigstack("verify-blob", str(artifact), "--bundle", str(bundle), "--offline",
                       "--certificate-identity", stack.identity,
                       "--certificate-oidc-issuer", stack.urls["oidc"], env=env)  # fmt: skip
    assert offline.returncode == 0, offline.stderr


def test_sign_blob_with_the_browser_flow(stack: Stack, tmp_path) -> None:
    artifact, bundle = _artifact(tmp_path, "signed by a person\n"), tmp_path / "person.json"

    def sign_in(url: str) -> None:
        with chromium() as browser:
            page = browser.new_page()  # type: ignore[attr-defined]
            page.goto(url)
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill(stack.demo_password())
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("http://localhost:*/auth/callback?*", timeout=30000)

    args = [str(artifact), "--bundle", str(bundle), "--trust-config", str(stack.trust_config)]
    code, out, err = sign_blob_in_browser(args, tmp_path, sign_in)
    assert code == 0, err
    assert "demo@sigstack.local" in err + out
    verified = sigstack("verify-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                        str(stack.trust_config), "--certificate-identity", "demo@sigstack.local",
                        "--certificate-oidc-issuer", stack.urls["oidc"])  # fmt: skip
    assert verified.returncode == 0, verified.stderr
