"""docs/backup.md run as written against a real Rekor (issue 15, item 13): the cron line that saves
checkpoints, the one-liner that reads the largest one back, SQLite's online backup, a restore
directory holding the files the page names, and ``check_log.py`` as the page shows it. A restore of
the latest backup passes (also after later appends); a restore of an older backup is ``LOSSY``;
the older backup with other entries appended (a fork) ends with ``NOT CONSISTENT``, a clear
message and exit status 1, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rekor.test_serve import post
from tests.support.entries import hashedrekord
from tests.support.servers import Service
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("servers")

DOC = (ROOT / "docs" / "backup.md").read_text()
HOSTNAME = "rekor.backup.test"


def _code_blocks(text: str) -> list[str]:
    """Fenced code blocks, dedented (the page indents those inside list items)."""
    blocks = re.findall(r"^( *)```[a-z]*\n(.*?)^\1```", text, flags=re.M | re.S)
    return ["\n".join(line[len(indent) :] for line in body.splitlines()) for indent, body in blocks]


def _script() -> str:
    (script,) = [b for b in _code_blocks(DOC) if "verify_consistency(" in b and "sys.argv" in b]
    return script


def _doc_line(startswith: str, contains: str) -> str:
    lines = [line for block in _code_blocks(DOC) for line in block.splitlines()
             if line.startswith(startswith) and contains in line]  # fmt: skip
    assert len(lines) == 1, lines
    return lines[0]


def _bash(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/bash", "-c", line], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ})  # fmt: skip


def _restore_files() -> list[str]:
    """The files the page's table names for a Rekor restore directory on SQLite."""
    rows = [
        line.strip() for line in DOC.splitlines() if line.strip().startswith("| Rekor on SQLite")
    ]
    assert len(rows) == 1, "the page's restore table has no Rekor on SQLite row"
    return sorted(
        n for n in re.findall(r"`([^`]+)`", rows[0].split("|")[2]) if n.startswith("rekor")
    )


def _backup(live: Path, to: Path) -> None:
    """A restore directory with the files the page names: the key, and the database copied with
    the page's second SQLite line (the online backup API, while the server runs)."""
    to.mkdir(mode=0o700)
    shutil.copy2(live / "rekor-key.pem", to / "rekor-key.pem")
    src, dst = sqlite3.connect(live / "rekor.db"), sqlite3.connect(to / "rekor.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    assert sorted(os.listdir(to)) == _restore_files() == ["rekor-key.pem", "rekor.db"]


def _append(url: str, *artifacts: bytes) -> None:
    for artifact in artifacts:
        status, body, _ = post(url, hashedrekord(artifact))
        assert status == 201, body


def _save_checkpoint(url: str, tmp: Path) -> None:
    """The page's cron line for Rekor, pointed at ``url`` and ``tmp``."""
    line = _doc_line("curl ", "/api/v1/log ")
    line = line.replace("https://rekor.example.com", url).replace("/backup/", f"{tmp}/")
    if shutil.which("curl") is None:
        pytest.skip("the page's cron line needs curl")
    done = _bash(line, tmp)
    assert done.returncode == 0, done.stderr


def _saved(tmp: Path) -> list[str]:
    """The page's one-liner: size and root hash of the largest saved checkpoint."""
    line = _doc_line("python3 -c ", "rekor-checkpoints.jsonl").replace("/backup/", f"{tmp}/")
    done = _bash(line, tmp)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _check(url: str, saved: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "check_log.py").write_text(_script())
    return subprocess.run([sys.executable, str(tmp / "check_log.py"), url, *saved], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Service]]:
    live = tmp_path / "live"
    with Service("rekor", "--data-dir", str(live), "--hostname", HOSTNAME, "--workers", "1") as srv:
        yield live, srv


def _restored(directory: Path) -> Service:
    return Service("rekor", "--data-dir", str(directory), "--host", "127.0.0.1",
                   "--hostname", HOSTNAME, "--workers", "1")  # fmt: skip


def test_a_good_backup_passes_a_doctored_one_fails_with_a_message(served, tmp_path) -> None:
    live, srv = served
    _append(srv.url, b"one", b"two", b"three")
    _backup(live, tmp_path / "old")  # 3 entries
    _append(srv.url, b"four", b"five")
    _save_checkpoint(srv.url, tmp_path)
    _backup(live, tmp_path / "latest")  # 5 entries, what clients saw
    saved = _saved(tmp_path)
    assert saved[0] == "5" and re.fullmatch(r"[0-9a-f]{64}", saved[1])

    with _restored(tmp_path / "latest") as restored:
        done = _check(restored.url, saved, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "consistent: 5 entries extend the checkpoint of size 5" in done.stdout
        _append(restored.url, b"six")  # a lossless restore goes on, with a proof now
        done = _check(restored.url, saved, tmp_path)
        assert done.returncode == 0 and "consistent: 6 entries" in done.stdout, done.stderr

    with _restored(tmp_path / "old") as restored:
        done = _check(restored.url, saved, tmp_path)
        assert done.returncode == 1 and "LOSSY" in done.stderr
        _append(restored.url, b"four, but forged", b"five, but forged")  # a fork of size 5
        done = _check(restored.url, saved, tmp_path)
        assert done.returncode == 1
        assert "NOT CONSISTENT" in done.stderr and "do not append" in done.stderr
        _append(restored.url, b"seven")  # with a proof: the fork still shows
        done = _check(restored.url, saved, tmp_path)
        assert done.returncode == 1 and "NOT CONSISTENT" in done.stderr
        assert "Traceback" not in done.stderr

    bad = _check(srv.url, ["5", "not-hex"], tmp_path)
    assert bad.returncode == 1 and "usage: check_log.py" in bad.stderr
