"""``services.stack_report``: the commands ``sigstack up`` prints work as pasted into bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sigstack.services import stack_report


def test_without_an_installed_sigstack_the_command_is_the_module_of_adr_0007(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkout that was never installed has no `sigstack` next to its Python: the fallback must
    # run the client by its one import name (sigstack.client.cli), from any directory.
    monkeypatch.setattr(stack_report, "executable", lambda name: None)
    command = stack_report.sigstack_command()
    assert command.endswith(" -m sigstack.client.cli")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(["bash", "-c", f"{command} --version"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sigstack ")


def test_an_installed_sigstack_is_named_by_its_full_path() -> None:
    found = stack_report.executable("sigstack")
    if found is None:
        pytest.skip("sigstack is not installed next to this Python")
    assert stack_report.sigstack_command() == str(found)
