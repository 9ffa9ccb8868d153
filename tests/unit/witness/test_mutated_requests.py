"""Mutated add-checkpoint requests (hypothesis over valid request bodies: byte flips, cuts,
insertions, line swaps and duplications) against the witness on a real SQLite database: only a
``Refusal`` or the runtime's 413 comes out, never a 500; the stored state changes only with a 200,
and every 200 is a cosignature that verifies over the checkpoint sent, for the size sent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigstack.protocol import note, vkeys
from sigstack.services.witness.store import checkpoints
from tests.unit.witness.helpers import TestLog, body, witness_app


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, TestLog, list[bytes]]:
    log = TestLog("log.example/mutants").grow(600)
    app = witness_app(tmp_path_factory.mktemp("mutants"), log)
    client = app.test_client()
    assert client.post("/add-checkpoint", data=body(0, [], log.checkpoint(300))).status_code == 200
    seeds = [
        body(300, log.proof(300, 600), log.checkpoint(600)),
        body(300, log.proof(300, 301), log.checkpoint(301)),
        body(300, [], log.checkpoint(300)),
        body(0, [], log.checkpoint(0)),
    ]
    return client, log, seeds


def _state(client: Any) -> list[tuple[Any, ...]]:
    engine = client.application.extensions["witness"].store.engine
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(checkpoints.select())]


def _restore(client: Any, row: tuple[Any, ...]) -> None:
    engine = client.application.extensions["witness"].store.engine
    c = checkpoints.c
    with engine.begin() as conn:
        conn.execute(checkpoints.update().where(c.origin == row[0])
                     .values(size=row[1], root_hash=row[2], note=row[3], cosigned_at=row[4]))  # fmt: skip


@st.composite
def mutants(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "lines"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"\n", b"\n\n", b" ", b"0", b"\xe2\x80\x94 ",
                                                b"\xff", b"old 1\n", b"=", b"+"]))  # fmt: skip
        else:
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if draw(st.booleans()):
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, lines[j])
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def test_mutated_requests_are_refused_cleanly_or_cosigned_correctly(setup: Any) -> None:
    client, log, seeds = setup
    verifier = vkeys.parse_vkey(client.get("/vkey").get_data(as_text=True).strip())
    (start,) = _state(client)

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(mutants(seeds))
    def run(data: bytes) -> None:
        before = _state(client)
        resp = client.post("/add-checkpoint", data=data)
        assert resp.status_code in (200, 400, 403, 404, 409, 413, 422), resp.status_code
        after = _state(client)
        if resp.status_code != 200:
            assert after == before
            return
        sent = data.split(b"\n\n", 1)[1].decode()
        cosigned = note.verify_checkpoint(sent + resp.get_data(as_text=True), [verifier])
        assert [(r[0], r[1]) for r in after] == [(log.origin, cosigned.size)]
        assert after[0][2] == cosigned.root_hash
        _restore(client, start)  # back to size 300, so that later mutants meet the same state

    run()
