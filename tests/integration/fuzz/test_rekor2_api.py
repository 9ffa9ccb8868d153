"""Fuzz every route of a real Rekor v2 log (``sigstack serve rekor2``) from its own OpenAPI document.

The log holds a few real entries first, so entry lookups, search, the checkpoint and the tiles
answer from data: the request the document gives as its example (one a client really sent to the
staging rekor-tiles, from tests/data), so the fuzzer's examples and the coverage cases built on
it meet a duplicate (409 with ``x-log-index``), and entries signed here with a certificate and
with a bare key. Nothing the fuzzer sends carries another signature that verifies, so nothing may
be written: the checkpoint keeps its size, and the tree, entry, tile and search-index rows of the
database are exactly as after the seeding.

Then ``test_signed_mutants`` sends what the fuzzer could not: requests that verify, each logging
a mutant of a real Fulcio leaf re-keyed to the key that signs the request (the certificate seeds of
tests/unit/fuzz/test_rekor2.py), so that odd SANs and extensions reach the search keys and the
batch's SQL. Those may be logged (anyone may log what they sign), and only those: the log grows by
the 201 answers alone, each logging the certificate exactly as sent and fitting the document.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator

from sigstack.protocol import note
from tests.support.entries import v2_hashedrekord, v2_request
from tests.support.servers import Service
from tests.support.testdata import ROOT
from tests.unit.fuzz import test_rekor2 as rekor2_properties
from tests.unit.fuzz.mutate import RandomPicker, mutate

from . import harness

ENTRIES = "/api/v2/log/entries"
TILES = [label for label in harness.operations("rekor2") if label.startswith("GET /tile/")]
# random cases per operation, besides schemathesis' coverage cases
BUDGET = {
    "POST /api/v2/log/entries": 300,
    "GET /api/v2/search": 250,
    "GET /api/v2/log/entries/{index}": 100,
    **{label: 40 for label in TILES},
}
KEPT = ("tlog_trees", "tlog_entries", "tlog_tiles", "rekor_index")
MUTANTS = 600


class Rekor2(harness.Fuzzer):
    log: Path
    db: Path
    seeded: int
    before: dict[str, list[Any]]


def document() -> dict[str, Any]:
    return json.loads((ROOT / "services" / "rekor2" / "openapi.json").read_text())


def example() -> dict[str, Any]:
    """The document's example request (a real rekor-tiles request, from tests/data)."""
    return document()["components"]["schemas"]["CreateEntryRequest"]["example"]


def snapshot(db: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(db) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in KEPT}  # noqa: S608


def checkpoint_size(url: str) -> int:
    text = requests.get(f"{url}/checkpoint", timeout=30).text
    return note.Checkpoint.from_text(note.SignedNote.from_text(text).text).size


@pytest.fixture(scope="module")
def rekor2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rekor2]:
    tmp = tmp_path_factory.mktemp("fuzz-rekor2")
    log = tmp / "rekor2.log"
    with Service(
        "rekor2", "--data-dir", str(tmp / "rekor2"), "--origin", "rekor2.test", log=log
    ) as service:
        seeds = [example(), v2_hashedrekord(b"seed 1").request,
                 v2_hashedrekord(b"seed 2", with_certificate=False).request]  # fmt: skip
        for body in seeds:
            resp = requests.post(f"{service.url}{ENTRIES}", json=body, timeout=30)
            assert resp.status_code == 201, resp.text
        again = requests.post(f"{service.url}{ENTRIES}", json=seeds[0], timeout=30)
        assert again.status_code == 409 and again.headers["x-log-index"] == "0", again.text
        fuzzer = Rekor2(service)
        fuzzer.log, fuzzer.db, fuzzer.seeded = log, tmp / "rekor2" / "rekor2.db", len(seeds)
        fuzzer.before = snapshot(fuzzer.db)
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("rekor2", BUDGET, 60))
def test_fuzz(rekor2: Rekor2, operation: str, examples: int) -> None:
    rekor2.run(operation, examples)


def test_nothing_written(rekor2: Rekor2) -> None:
    """Runs after the fuzzing (module order): the tree did not grow, no row changed, the log
    shows no error."""
    assert checkpoint_size(rekor2.service.url) == rekor2.seeded
    assert snapshot(rekor2.db) == rekor2.before
    assert len(rekor2.before["tlog_entries"]) == rekor2.seeded
    rekor2.assert_clean()
    print("\n" + rekor2.summary())


def test_signed_mutants(rekor2: Rekor2) -> None:
    """Runs last: MUTANTS requests that verify, with mutated certificates (module docstring): a
    201, 400 or 409 each, nothing leaked, and the log grows by exactly the entries answered 201."""
    doc = document()
    entry_schema = OAS30Validator(
        {"$ref": "#/components/schemas/TransparencyLogEntry", "components": doc["components"]}
    )
    seeds = rekor2_properties.certificate_seeds()
    signature = rekor2_properties._signature()
    logged: list[tuple[int, bytes]] = []
    count = round(MUTANTS * harness.SCALE)
    for n in range(count):
        der = mutate(seeds[n % len(seeds)], RandomPicker(harness.SEED + n))
        body = v2_request(rekor2_properties.DIGEST, signature, der)
        resp = rekor2.session.post(f"{rekor2.service.url}{ENTRIES}", json=body, timeout=30)
        rekor2._count(f"POST {ENTRIES}", resp)
        where = f"mutant {n} ({base64.b64encode(der)[:200]!r})"
        assert resp.status_code in (201, 400, 409), f"{where}: {resp.status_code} {resp.text[:300]}"
        leak = harness._LEAK.search(resp.text)
        assert leak is None, f"{where}: {resp.text[:300]}"
        if resp.status_code == 201:
            entry = resp.json()
            entry_schema.validate(entry)
            data = base64.b64decode(entry["canonicalizedBody"])
            verifier = json.loads(data)["spec"]["hashedRekordV002"]["signature"]["verifier"]
            assert base64.b64decode(verifier["x509Certificate"]["rawBytes"]) == der, where
            logged.append((int(entry["logIndex"]), data))
    with sqlite3.connect(rekor2.db) as conn:
        rows = conn.execute(
            "SELECT idx, data FROM tlog_entries WHERE idx >= ? ORDER BY idx", (rekor2.seeded,)
        ).fetchall()
    assert [(idx, bytes(data)) for idx, data in rows] == sorted(logged)
    assert checkpoint_size(rekor2.service.url) == rekor2.seeded + len(logged)
    assert logged, "no mutant verified: the stage reached nothing behind the signature check"
    rekor2.assert_clean(least=None)
    print(f"\n{len(logged)} of {count} signed mutants logged; {rekor2.summary()}")
