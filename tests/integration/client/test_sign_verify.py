"""Sign → verify round trips against the project's real services (Fulcio + CT log, Rekor, OIDC),
and cross-checks with sigstore-python 4.5.1 in both directions.

Contract with the ``stack`` fixture (provided by the lead's integration conftest): it exposes,
as attributes or dict keys, ``trust_config`` (path of a ClientTrustConfig JSON naming the running
services), ``token`` (a callable returning a fresh OIDC identity token, audience ``sigstore``),
``identity`` (the SAN the certificate will carry) and ``issuer`` (the OIDC issuer URL). Without
the fixture every test here is skipped with the reason "needs the services".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sigstack.client.cli import main

SIGSTORE = Path(sys.executable).with_name("sigstore")


def _get(stack: Any, name: str) -> Any:
    return stack[name] if isinstance(stack, dict) else getattr(stack, name)


@pytest.fixture
def svc(request: pytest.FixtureRequest) -> dict[str, Any]:
    try:
        stack = request.getfixturevalue("stack")
    except pytest.FixtureLookupError:
        pytest.skip("needs the services")
    return {k: _get(stack, k) for k in ("trust_config", "token", "identity", "issuer")}


@pytest.fixture
def work(tmp_path: Path, svc: dict[str, Any]) -> dict[str, Path]:
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(os.urandom(4096))
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(json.loads(Path(svc["trust_config"]).read_text())["trustedRoot"]))
    return {"artifact": artifact, "bundle": tmp_path / "a.sigstore.json", "root": root}


def _verify(svc: dict[str, Any], work: dict[str, Path], cmd: str = "verify-blob") -> int:
    return main([cmd, str(work["artifact"]), "--bundle", str(work["bundle"]),
                 "--certificate-identity", svc["identity"],
                 "--certificate-oidc-issuer", svc["issuer"],
                 "--trust-config", str(svc["trust_config"])])  # fmt: skip


def test_sign_blob_then_verify(svc, work) -> None:
    assert main(["sign-blob", str(work["artifact"]), "--bundle", str(work["bundle"]),
                 "--identity-token", svc["token"](),
                 "--trust-config", str(svc["trust_config"])]) == 0  # fmt: skip
    assert _verify(svc, work) == 0
    work["artifact"].write_bytes(b"tampered")
    assert _verify(svc, work) == 1


def test_attest_blob_then_verify(svc, work, tmp_path) -> None:
    predicate = tmp_path / "p.json"
    predicate.write_text('{"builder": {"id": "test"}}')
    assert main(["attest-blob", str(work["artifact"]), "--predicate", str(predicate),
                 "--type", "slsaprovenance1", "--bundle", str(work["bundle"]),
                 "--identity-token", svc["token"](),
                 "--trust-config", str(svc["trust_config"])]) == 0  # fmt: skip
    assert _verify(svc, work, "verify-blob-attestation") == 0


def test_conformance_sign_bundle(svc, work) -> None:
    config = json.loads(Path(svc["trust_config"]).read_text())["signingConfig"]
    sc = work["root"].with_name("signing_config.json")
    sc.write_text(json.dumps(config))
    assert main(["sign-bundle", "--identity-token", svc["token"](), "--bundle",
                 str(work["bundle"]), "--trusted-root", str(work["root"]),
                 "--signing-config", str(sc), str(work["artifact"])]) == 0  # fmt: skip
    assert main(["verify-bundle", "--bundle", str(work["bundle"]),
                 "--certificate-identity", svc["identity"],
                 "--certificate-oidc-issuer", svc["issuer"],
                 "--trusted-root", str(work["root"]), str(work["artifact"])]) == 0  # fmt: skip


@pytest.mark.skipif(not SIGSTORE.exists(), reason="sigstore-python is not installed")
def test_sigstore_python_both_ways(svc, work) -> None:
    env = {**os.environ, "HOME": str(work["root"].parent)}
    tc = str(svc["trust_config"])
    assert main(["sign-blob", str(work["artifact"]), "--bundle", str(work["bundle"]),
                 "--identity-token", svc["token"](), "--trust-config", tc]) == 0  # fmt: skip
    proc = subprocess.run(
        [str(SIGSTORE), "--trust-config", tc, "verify", "identity", "--offline",
         "--bundle", str(work["bundle"]), "--cert-identity", svc["identity"],
         "--cert-oidc-issuer", svc["issuer"], str(work["artifact"])],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    theirs = work["bundle"].with_name("theirs.sigstore.json")
    proc = subprocess.run(
        [str(SIGSTORE), "--trust-config", tc, "sign", "--oidc-disable-ambient-providers",
         "--identity-token", svc["token"](), "--bundle", str(theirs), str(work["artifact"])],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    work["bundle"] = theirs
    assert _verify(svc, work) == 0
