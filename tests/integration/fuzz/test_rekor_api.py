"""Fuzz every route of a real Rekor (``sigstack serve rekor``) from its own OpenAPI document.

The log holds a few real entries first, so reads, proofs and tiles answer from data. Nothing the
fuzzer sends carries a signature that verifies, so the tree must not grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.entries import hashedrekord
from tests.support.servers import Service

from . import harness

SEEDED = 3
TILES = [label for label in harness.operations("rekor") if label.startswith("GET /tile/")]
# random cases per operation, besides schemathesis' coverage cases (about 30 to 250 each)
BUDGET = {
    "POST /api/v1/log/entries": 150,
    "POST /api/v1/log/entries/retrieve": 80,
    "POST /api/v1/log/entries/retrieve/": 80,
    "POST /api/v1/index/retrieve": 250,
    **{label: 80 for label in TILES},
}


class Rekor(harness.Fuzzer):
    log: Path


@pytest.fixture(scope="module")
def rekor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rekor]:
    tmp = tmp_path_factory.mktemp("fuzz-rekor")
    log = tmp / "rekor.log"
    with Service(
        "rekor", "--data-dir", str(tmp / "rekor"), "--hostname", "rekor.test", log=log
    ) as service:
        for i in range(SEEDED):
            resp = requests.post(f"{service.url}/api/v1/log/entries",
                                 json=hashedrekord(b"seed %d" % i), timeout=30)  # fmt: skip
            assert resp.status_code == 201, resp.text
        fuzzer = Rekor(service)
        fuzzer.log = log
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("rekor", BUDGET, 150))
def test_fuzz(rekor: Rekor, operation: str, examples: int) -> None:
    rekor.run(operation, examples)


def test_nothing_written(rekor: Rekor) -> None:
    """Runs after the fuzzing (module order): the tree did not grow, the log shows no error."""
    info = requests.get(f"{rekor.service.url}/api/v1/log", timeout=30).json()
    assert info["treeSize"] == SEEDED
    rekor.assert_clean()
    print("\n" + rekor.summary())
