"""Fuzz every route of a real TUF mirror (``sigstack serve tuf``) from its own OpenAPI document.

The repository is made here (``Repository.init``, one target published), so every metadata file
and the target exist. The mirror is read-only: after the fuzzing every file of the repository
(``public/``, ``staged/``, ``repo.json``, ``keys/``) is byte for byte what it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.repo import Repository
from tests.support.servers import Service

from . import harness

BUDGET = {
    "GET /{version}.root.json": 400,
    "GET /{version}.snapshot.json": 400,
    "GET /{version}.targets.json": 400,
    "GET /targets/{target}": 500,
}


class TUF(harness.Fuzzer):
    log: Path
    repo: Path
    before: dict[str, str]


def files(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` but the lock file, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def tuf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TUF]:
    tmp = tmp_path_factory.mktemp("fuzz-tuf")
    repo = Repository(tmp / "repo")
    repo.init(tmp / "offline")
    repo.add_target("trusted_root.json", b'{"mediaType": "fuzz"}\n')
    repo.sign("targets", tufkeys.open_signer(str(tmp / "offline" / "targets-1.pem")))
    repo.publish()
    log = tmp / "tuf.log"
    with Service("tuf", "--data-dir", str(tmp / "repo"), log=log) as service:
        fuzzer = TUF(service)
        fuzzer.log, fuzzer.repo = log, tmp / "repo"
        fuzzer.before = files(fuzzer.repo)
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("tuf", BUDGET, 100))
def test_fuzz(tuf: TUF, operation: str, examples: int) -> None:
    tuf.run(operation, examples)


def test_nothing_written(tuf: TUF) -> None:
    """Runs after the fuzzing (module order): the repository is unchanged."""
    assert files(tuf.repo) == tuf.before
    assert any(name.startswith("public/targets/") for name in tuf.before)
    tuf.assert_clean()
    print("\n" + tuf.summary())
