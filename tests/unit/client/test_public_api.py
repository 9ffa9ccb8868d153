"""The client's public API: ``sigstack.client.__all__`` and the examples of docs/client.md
("Library"), run as printed there. The verifying example runs against a real staging bundle of
tests/data; the signing example signs against the fake stack (``fakes.FakeStack``) and the
verifying one checks what it wrote."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sigstack.client
from sigstack.protocol.trust import ClientTrustConfig
from tests.support.testdata import ROOT, TESTDATA

from .fakes import FakeStack, token
from .kit import IDENTITY, ISSUER, Kit

DOC = ROOT / "docs" / "client.md"
CASE = TESTDATA / "pyassets" / "cases" / "staging-v0.3-happy-path"
DOC_IDENTITY, DOC_ISSUER = "alice@example.com", "https://accounts.example.com"


def _example(name: str) -> str:
    text = DOC.read_text()
    found = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)\n```", text, re.S)
    assert found, f"docs/client.md has no '{name}' example"
    return found.group(1)


def _verifying_example(identity: str, issuer: str) -> str:
    code = _example("verify")
    assert f'identity="{DOC_IDENTITY}"' in code and f'issuer="{DOC_ISSUER}"' in code
    return code.replace(DOC_IDENTITY, identity).replace(DOC_ISSUER, issuer)


def test_every_public_name_resolves_to_its_home() -> None:
    names = set(sigstack.client.__all__)
    assert names == set(sigstack.client._WHERE)
    for name in names:
        value = getattr(sigstack.client, name)
        assert getattr(importlib.import_module(sigstack.client._WHERE[name]), name) is value
    with pytest.raises(AttributeError):
        sigstack.client.no_such_name  # noqa: B018


def test_importing_the_package_loads_no_cryptography() -> None:
    """The CLI imports the package first; the names load on first use."""
    code = (
        "import sys, sigstack.client; print(any(m.startswith('cryptography') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_verifying_example_on_a_real_bundle(tmp_path: Path, monkeypatch, capsys) -> None:
    shutil.copy(CASE / "trusted_root.json", tmp_path / "trusted_root.json")
    shutil.copy(CASE / "bundle.sigstore.json", tmp_path / "a.txt.sigstore.json")
    shutil.copy(CASE / "artifact", tmp_path / "a.txt")
    identity = (CASE / "identity").read_text().strip()
    issuer = (CASE / "issuer").read_text().strip()
    monkeypatch.chdir(tmp_path)
    exec(_verifying_example(identity, issuer), {})
    out = capsys.readouterr().out
    assert "OK: The certificate's SCT was verified against a trusted CT log" in out
    assert f"signed by ['{identity}'] of {issuer} at " in out
    (tmp_path / "a.txt").write_bytes(b"not the signed file\n")
    with pytest.raises(SystemExit, match="^not verified: "):
        exec(_verifying_example(identity, issuer), {})


def test_the_signing_example_then_the_verifying_one(tmp_path: Path, monkeypatch, capsys) -> None:
    stack = FakeStack(Kit())
    try:
        root = stack.kit.trusted_root()
        config = ClientTrustConfig(root, stack.signing_config())
        (tmp_path / "trust_config.json").write_text(config.to_json())
        (tmp_path / "trusted_root.json").write_text(root.to_json())
        (tmp_path / "a.txt").write_bytes(b"signed from Python\n")
        monkeypatch.setenv("SIGSTORE_ID_TOKEN", token())
        monkeypatch.chdir(tmp_path)
        exec(_example("sign"), {})
        assert "tlog entry created with index" in capsys.readouterr().out
        exec(_verifying_example(IDENTITY, ISSUER), {})
        assert "OK: The signature over the artifact was verified" in capsys.readouterr().out
    finally:
        stack.close()
