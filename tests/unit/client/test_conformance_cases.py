"""Every case of tests/data/pyassets/cases through ``sigstack verify-bundle``, once with the
artifact path and once with ``sha256:<hex>``, expecting sigstore-python 4.5.1's outcome: accept
exactly the happy paths, reject every ``_fail`` case."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from sigstack.client.cli import main
from tests.support.testdata import ROOT, TESTDATA

CASES = TESTDATA / "pyassets" / "cases"
DEFAULT_ARTIFACT = CASES / "a.txt"


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.is_dir())


def _args(case: Path, mode: str) -> list[str] | None:
    artifact = case / "artifact" if (case / "artifact").exists() else DEFAULT_ARTIFACT
    if (case / "digest").exists():
        if mode == "PATH":
            return None  # digest-only case (the artifact is not shipped)
        target = (case / "digest").read_text().strip()
    elif mode == "PATH":
        target = str(artifact)
    else:
        target = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    return [
        "verify-bundle",
        "--bundle", str(case / "bundle.sigstore.json"),
        "--certificate-identity", (case / "identity").read_text().strip(),
        "--certificate-oidc-issuer", (case / "issuer").read_text().strip(),
        "--trusted-root", str(case / "trusted_root.json"),
        target,
    ]  # fmt: skip


def _runs() -> list[tuple[Path, str]]:
    """Every case in both modes, except the PATH mode of digest-only cases (no artifact shipped)."""
    return [(c, m) for c in _cases() for m in ("PATH", "DIGEST") if _args(c, m) is not None]


@pytest.mark.parametrize(
    ("case", "mode"), _runs(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_case(case: Path, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(case, mode)
    assert args is not None
    code = main(args)
    err = capsys.readouterr().err
    if case.name.endswith("_fail"):
        assert code == 1, err
        assert err.startswith("Error: ")
    else:
        assert code == 0, err
        assert "Verified OK" in err


def test_all_cases_present() -> None:
    assert len(_cases()) == 16


def test_command_as_a_process() -> None:
    """The real entry point, in a fresh interpreter: exit codes and lazy imports."""
    case = CASES / "staging-v0.3-happy-path"
    args = _args(case, "PATH")
    assert args is not None
    probe = (
        "import sys; from sigstack.client.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('requests', 'tuf', 'flask', 'sqlalchemy', 'sigstack.client.verify.witness') "
        "if m in sys.modules]; "
        "print(heavy); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    bad = _args(CASES / "staging-cve-2022-36056_fail", "PATH")
    assert bad is not None
    proc = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", *bad],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "inconsistent" in proc.stderr


def test_github_workflow_extension_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """cosign's --certificate-github-workflow-* checks on the real GitHub Actions certificate."""
    case = CASES / "production-v0.2-github-actions-wheel"
    args = _args(case, "DIGEST")
    assert args is not None
    base, target = args[:-1], args[-1]
    good = ["--certificate-github-workflow-trigger", "release",
            "--certificate-github-workflow-repository", "trailofbits/rfc8785.py",
            "--certificate-github-workflow-ref", "refs/tags/v0.1.2"]  # fmt: skip
    assert main([*base, *good, target]) == 0
    capsys.readouterr()
    assert main([*base, "--certificate-github-workflow-trigger", "push", target]) == 1
    assert "github workflow trigger is 'release'" in capsys.readouterr().err
