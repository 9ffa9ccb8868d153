"""``pip install sigstack`` (no extra) is the client alone: it verifies bundles without Flask,
SQLAlchemy, granian or psycopg installed, and the server commands say which extra they need."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.testdata import ROOT, TESTDATA

pytestmark = pytest.mark.xdist_group("packaging")
CASE = TESTDATA / "pyassets" / "cases" / "staging-v0.3-happy-path"


def _source_copy(to: Path) -> Path:
    """What a source distribution holds, copied (links kept): pip builds in the source tree, and
    a build/ left in the checkout would be reused by later builds."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)
    for name in ("protocol", "client", "services", "migrations", "sigstack"):
        shutil.copytree(ROOT / name, to / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return to


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("client-venv")
    source = _source_copy(tmp_path_factory.mktemp("source"))
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True,
                   capture_output=True, timeout=600, cwd=where)  # fmt: skip
    return where


def _run(client_venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run from outside the checkout, so that only what was installed can be imported.
    return subprocess.run([str(client_venv / "bin" / "sigstack"), *args], capture_output=True,
                          text=True, timeout=120, cwd=client_venv)  # fmt: skip


def test_the_client_alone_verifies_a_bundle(client_venv: Path) -> None:
    python = client_venv / "bin" / "python"
    for server_only in ("flask", "sqlalchemy", "granian", "psycopg", "alembic"):
        found = subprocess.run([str(python), "-c", f"import {server_only}"], capture_output=True,
                               cwd=client_venv)  # fmt: skip
        assert found.returncode != 0, f"{server_only} came with the client"
    result = _run(client_venv, "verify-bundle", "--bundle", str(CASE / "bundle.sigstore.json"),
                  "--certificate-identity", (CASE / "identity").read_text().strip(),
                  "--certificate-oidc-issuer", (CASE / "issuer").read_text().strip(),
                  "--trusted-root", str(CASE / "trusted_root.json"), str(CASE / "artifact"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stderr


@pytest.mark.parametrize("command", [["serve", "rekor", "--data-dir", "x"], ["up"],
                                     ["db", "check"], ["oidc", "rotate-key", "--data-dir", "x"]])  # fmt: skip
def test_server_commands_name_the_extra(client_venv: Path, command: list[str]) -> None:
    result = _run(client_venv, *command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pip install 'sigstack[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_of_the_installed_client(client_venv: Path) -> None:
    result = _run(client_venv, "--version")
    assert result.returncode == 0 and result.stdout.startswith("sigstack ")
    assert sys.version_info >= (3, 11)
