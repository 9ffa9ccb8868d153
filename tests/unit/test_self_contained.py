"""The suite stands on its own (issue 11): a fresh clone, with nothing next to it, has every file
its tests, benchmarks and CI read.

- No tracked file under tests/, bench/, the Makefile or .ci/ names the material that once sat
  outside the repository (a sibling ``shared`` checkout with test data and specifications), and
  every relative path a tracked note under tests/ names exists.
- A clone of HEAD in a directory without a sibling ``shared`` runs a real part of the suite (the
  protocol tests, which read the vectors under tests/data) with its own ``sigstack`` package, and
  it passes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testdata import ROOT

_OUTSIDE = re.compile(r"\.\./shared\b|/work/shared\b|\bshared/(?:testdata|spec)\b")
_RELATIVE = re.compile(r"`(\.\./[^`\s]+)`")
_SCOPE = ("tests", "bench", "Makefile", ".ci")


def _tracked(*paths: str) -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, check=True,
                         capture_output=True).stdout  # fmt: skip
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_reads_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in _tracked(*_SCOPE):
        if path.resolve() == this or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if _OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert found == []


def test_relative_paths_in_notes_under_tests_exist() -> None:
    missing = []
    for path in _tracked("tests"):
        if path.suffix != ".md":
            continue
        for name in _RELATIVE.findall(path.read_text()):
            if not (path.parent / name).exists():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert missing == []


def test_a_clone_without_anything_next_to_it_passes_the_protocol_tests(tmp_path: Path) -> None:
    _tracked()  # skips outside a git checkout
    clone = tmp_path / "alone" / "sigstack"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    assert sorted(p.name for p in clone.parent.iterdir()) == ["sigstack"]  # no sibling shared
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(PYTHONPATH=str(clone), HOME=str(tmp_path / "home"), PYTHONDONTWRITEBYTECODE="1")
    # The editable install maps `sigstack` to this checkout; PYTHONPATH must win over it.
    where = subprocess.run([sys.executable, "-c", "import sigstack, tests.support.testdata as t; "
                            "print(sigstack.__file__); print(t.ROOT)"], cwd=clone, env=env,
                           check=True, capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    package, data_root = where.splitlines()
    assert Path(package).resolve().is_relative_to(clone.resolve()), package
    assert Path(data_root).resolve() == clone.resolve()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/unit/protocol"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d{3,} passed\b", summary) and "skipped" not in summary, summary
