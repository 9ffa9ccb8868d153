"""Fuzz every route of a real witness (``sigstack serve witness``) from its own OpenAPI document.

The witness follows one log made here (``log.example/fuzz``, the origin of the document's
example request, so the examples and the coverage cases built on them get past "unknown log" to
the signature check) and has cosigned one of its checkpoints for real first (size 5), so the
monitor retrieval answers from data and every ``old`` but 5 meets the 409 path. Nothing the
fuzzer sends carries a checkpoint the log signed, so nothing may be cosigned and nothing written:
the ``witness_checkpoints`` rows are exactly as after the seeding, and the key and name files
byte for byte.

Besides schemathesis' cases, ``test_mutated_requests`` sends mutants of real add-checkpoint bodies
that carry the log's signature and are refused for one reason each (a stale ``old``, a wrong
consistency proof, a checkpoint signed by another key for the same origin, an empty tree with a
wrong root): random text seldom gets past "does not parse", mutants reach the checks behind it. A
mutant could turn into a request the spec says to cosign (``old 5`` with the cosigned checkpoint
itself); each 200 must then be a valid cosignature over the checkpoint sent, and the stored tree
(size and root) must stay the one cosigned first.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sigstack.protocol import note, vkeys
from tests.support.servers import Service
from tests.unit.fuzz.mutate import RandomPicker, mutate
from tests.unit.witness.helpers import TestLog, body, log_list, origin_hash

from . import harness

ORIGIN = "log.example/fuzz"  # the origin of the document's example request
ADD = "POST /add-checkpoint"
BUDGET = {ADD: 500, "GET /{originHash}/checkpoint": 250}
MUTANTS = 1200
SEEDED = 5


class Witness(harness.Fuzzer):
    log: Path
    data: Path
    vkey: str
    before: list[Any]
    files: dict[str, str]
    cosigned: int = 0

    def _count(self, label: str, response: Any) -> None:
        super()._count(label, response)
        if response.request.method == "POST" and response.status_code == 200:
            self.check_cosigned(response)
            self.cosigned += 1

    def check_cosigned(self, response: Any) -> None:
        """A 200 is a valid cosignature, by this witness, over the checkpoint that was sent."""
        sent = response.request.body
        sent = sent.encode() if isinstance(sent, str) else sent or b""
        checkpoint = sent.split(b"\n\n", 1)[1].decode()
        signed = note.SignedNote.from_text(checkpoint + response.content.decode())
        assert [s.name for s in signed.signatures][-1] == self.vkey.split("+")[0]
        note.open_note(signed.to_text(), [vkeys.parse_vkey(self.vkey)])


def rows(db: Path) -> list[Any]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM witness_checkpoints").fetchall())


def trees(db: Path) -> list[Any]:
    """(origin, size, root hash) of every stored checkpoint."""
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT origin, size, root_hash FROM witness_checkpoints"))


def files(data: Path) -> dict[str, str]:
    return {name: hashlib.sha256((data / name).read_bytes()).hexdigest()
            for name in ("witness-key.pem", "witness-name")}  # fmt: skip


@pytest.fixture(scope="module")
def followed() -> TestLog:
    return TestLog(ORIGIN).grow(SEEDED)


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory, followed: TestLog) -> Iterator[Witness]:
    tmp = tmp_path_factory.mktemp("fuzz-witness")
    (tmp / "logs.txt").write_text(log_list(followed))
    log, data = tmp / "witness.log", tmp / "witness"
    args = ("--data-dir", str(data), "--name", "witness.test/fuzz", "--logs", str(tmp / "logs.txt"))
    with Service("witness", *args, log=log) as service:
        first = requests.post(f"{service.url}/add-checkpoint",
                              data=body(0, [], followed.checkpoint()), timeout=30)  # fmt: skip
        assert first.status_code == 200, first.text
        fuzzer = Witness(service)
        fuzzer.log, fuzzer.data = log, data
        fuzzer.vkey = requests.get(f"{service.url}/vkey", timeout=30).text.strip()
        fuzzer.check_cosigned(first)
        fuzzer.before, fuzzer.files = rows(data / "witness.db"), files(data)
        assert len(fuzzer.before) == 1
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("witness", BUDGET, 60))
def test_fuzz(witness: Witness, operation: str, examples: int) -> None:
    witness.run(operation, examples)


def seeds(followed: TestLog) -> list[tuple[bytes, int]]:
    """Real request bodies with the log's signature, each refused, and the status it gets."""
    grown = TestLog(ORIGIN, followed.key, list(followed.leaves)).grow(4, "next")
    forged = TestLog(ORIGIN).grow(9)  # same origin, another key
    proof = grown.proof(SEEDED)
    wrong = [hashlib.sha256(h).digest() for h in proof]
    return [
        (body(0, [], grown.checkpoint()), 409),  # stale old
        (body(3, grown.proof(3), grown.checkpoint()), 409),
        (body(SEEDED, wrong, grown.checkpoint()), 422),  # a proof that does not verify
        (body(SEEDED, proof, forged.checkpoint()), 403),  # not signed by the log's key
        (body(0, [], followed.checkpoint(0, b"\x00" * 32)), 409),
        (body(SEEDED, [], followed.checkpoint(root=b"\x01" * 32)), 422),  # same size, other root
    ]


def test_mutated_requests(witness: Witness, followed: TestLog) -> None:
    """The seeds get their status; MUTANTS mutants of them: a documented status, never 5xx,
    nothing leaked, and every 200 a valid cosignature over what was sent (``_count``)."""
    url = f"{witness.service.url}/add-checkpoint"
    bodies = seeds(followed)
    for seed, status in bodies:
        resp = witness.session.post(url, data=seed, timeout=30)
        witness._count(ADD, resp)
        assert resp.status_code == status, (seed, resp.text)
    for n in range(round(MUTANTS * harness.SCALE)):
        seed, _ = bodies[n % len(bodies)]
        sent = mutate(seed, RandomPicker(harness.SEED + n))
        resp = witness.session.post(url, data=sent, timeout=30)
        witness._count(ADD, resp)
        where = f"mutant {n} ({sent[:300]!r})"
        assert resp.status_code in (200, 400, 403, 404, 409, 413, 422), (
            f"{where}: {resp.status_code} {resp.text[:300]}"
        )
        leak = harness._LEAK.search(resp.content.decode("utf-8", "replace"))
        assert leak is None or leak.group(0).encode() in sent, f"{where}: {resp.text[:300]}"


def test_nothing_written(witness: Witness) -> None:
    """Runs after the fuzzing (module order): the stored checkpoint is the one cosigned first
    (byte for byte unless a mutant re-sent it with ``old 5``, which the spec cosigns again), the
    key and name unchanged, the log clean."""
    db = witness.data / "witness.db"
    if witness.cosigned == 0:
        assert rows(db) == witness.before
    assert trees(db) == [(ORIGIN, SEEDED, witness.before[0][2])]
    assert files(witness.data) == witness.files
    held = witness.session.get(f"{witness.service.url}/{origin_hash(ORIGIN)}/checkpoint",
                               timeout=30)  # fmt: skip
    assert held.status_code == 200, held.text
    assert note.Checkpoint.from_text(note.SignedNote.from_text(held.text).text).size == SEEDED
    witness.assert_clean()
    print("\n" + witness.summary() + f", {witness.cosigned} cosigned again")
