"""Real Sigstore clients read their trust from our mirror (served by ``sigstack serve tuf``).

@sigstore/cli 0.10.3 has no trusted-root flag: it gets trust only through a TUF mirror, so a
verification exit status of 0 shows the whole chain works (bootstrap root, consistent-snapshot
metadata, hash-prefixed target). sigstore-python 4.5.1 reads both targets with
``ClientTrustConfig.from_tuf``. The trusted root is built by ``trustroot.build_trusted_root`` from
the staging instance's public material that signed a real bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy

from sigstack.services.tuf import signingconfig, trustroot
from tests.support.testdata import ROOT
from tests.unit.tuf.helpers import CASE, staging_case_root

from .conftest import init_repo

pytestmark = pytest.mark.interop
SIGSTORE_JS = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "sigstore"
IDENTITY = (CASE / "identity").read_text().strip()
ISSUER = (CASE / "issuer").read_text().strip()
SIGNING_CONFIG = signingconfig.build_signing_config(
    ca_urls=["https://fulcio.sigstage.dev"],
    oidc_urls=["https://oauth2.sigstage.dev/auth"],
    rekor_urls=["https://rekor.sigstage.dev"],
    operator="sigstage.dev",
    valid_from=datetime(2022, 7, 1, tzinfo=UTC),
)


def _publish(repo, trusted_root: dict) -> None:
    repo.add_target("trusted_root.json", json.dumps(trusted_root).encode())
    repo.add_target("signing_config.v0.2.json", json.dumps(SIGNING_CONFIG).encode())
    repo.sign("targets", repo_signer(repo, "targets-1"))
    repo.publish()


def repo_signer(repo, name: str):
    from sigstack.services.tuf import keys as tufkeys

    return tufkeys.open_signer(str(repo.layout.root.parent / "offline" / f"{name}.pem"))


def _wrong_root() -> dict:
    doc = staging_case_root()
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    doc["tlogs"] = [
        trustroot.log_instance(
            key, "https://rekor.sigstage.dev", start=datetime(2021, 1, 1, tzinfo=UTC)
        )
    ]
    return doc


def _js_verify(url: str, root: Path, cache: Path, identity: str) -> subprocess.CompletedProcess:
    flag = "--certificate-identity-uri" if "://" in identity else "--certificate-identity-email"
    cmd = [
        str(SIGSTORE_JS),
        "verify",
        str(CASE / "bundle.sigstore.json"),
        "--blob-file",
        str(CASE / "artifact"),
        flag,
        identity,
        "--certificate-issuer",
        ISSUER,
        "--tuf-mirror-url",
        url,
        "--tuf-root-path",
        str(root),
        "--tuf-cache-path",
        str(cache),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_sigstore_js_verifies_with_trust_from_our_mirror(tmp_path: Path, serve_tuf) -> None:
    if shutil.which("node") is None or not SIGSTORE_JS.exists():
        pytest.skip(f"node or @sigstore/cli 0.10.3 is not installed ({SIGSTORE_JS})")
    repo = init_repo(tmp_path)
    url = serve_tuf(repo.layout.root)
    bootstrap = repo.layout.public / "1.root.json"
    cache = tmp_path / "js-cache"
    _publish(repo, _wrong_root())  # the bundle's Rekor key is absent: verification must fail
    bad = _js_verify(url, bootstrap, cache, IDENTITY)
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert "TLOG_INCLUSION_PROMISE_ERROR" in bad.stderr  # refused for lack of trust, not TUF
    _publish(repo, staging_case_root())  # the client picks up the new targets version
    good = _js_verify(url, bootstrap, cache, IDENTITY)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verification succeeded" in good.stdout + good.stderr
    wrong_identity = _js_verify(url, bootstrap, cache, "someone@example.com")
    assert wrong_identity.returncode != 0


def test_sigstore_python_reads_both_targets_from_our_mirror(
    tmp_path: Path, serve_tuf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setitem(os.environ, "HOME", str(tmp_path))
    repo = init_repo(tmp_path)
    _publish(repo, staging_case_root())
    url = serve_tuf(repo.layout.root)
    cfg = ClientTrustConfig.from_tuf(url, bootstrap_root=repo.layout.public / "1.root.json")
    assert cfg.signing_config._fulcios[0].url == "https://fulcio.sigstage.dev"
    verifier = Verifier(trusted_root=cfg.trusted_root)
    bundle = Bundle.from_json((CASE / "bundle.sigstore.json").read_bytes())
    verifier.verify_artifact(
        (CASE / "artifact").read_bytes(), bundle, policy.Identity(identity=IDENTITY, issuer=ISSUER)
    )
    assert any((tmp_path / "xdg-cache").rglob("*trusted_root.json"))


def test_sigstore_python_cli_accepts_generated_trust_config(tmp_path: Path) -> None:
    """``sigstore --trust-config`` (the CLI, not only the API) with our ClientTrustConfig."""
    cli = Path(sys.executable).parent / "sigstore"
    tc = tmp_path / "trust_config.json"
    tc.write_text(
        json.dumps(trustroot.build_client_trust_config(staging_case_root(), SIGNING_CONFIG))
    )
    artifact = tmp_path / "artifact"
    shutil.copy(CASE / "artifact", artifact)

    def verify(identity: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(cli),
                "--trust-config",
                str(tc),
                "verify",
                "identity",
                "--bundle",
                str(CASE / "bundle.sigstore.json"),
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                ISSUER,
                str(artifact),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = verify(IDENTITY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK" in ok.stdout + ok.stderr
    assert verify("someone@example.com").returncode != 0
