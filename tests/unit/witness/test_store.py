"""Compare-and-swap on the witness's table, on SQLite and PostgreSQL: a swap from a stale state
changes nothing, and of many threads racing from one state exactly one wins each step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.services.runtime import db
from sigstack.services.witness.cosigner import Refusal
from sigstack.services.witness.store import State, Store
from tests.support.dbs import upgraded_database
from tests.unit.witness.helpers import TestLog, body, witness_app


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with upgraded_database(request.param, tmp_path / "witness.db") as url:
        yield url


def test_swap_changes_one_row_only_from_the_expected_state(database_url: str) -> None:
    store = Store(db.make_engine(database_url))
    try:
        first, second = State(1, b"\x01" * 32, "n1", 5), State(2, b"\x02" * 32, "n2", 6)
        assert store.swap("o", None, first)
        assert not store.swap("o", None, second)  # the row exists: no second first
        assert store.get("o") == first
        stale = State(1, b"\x09" * 32, "n1", 5)  # right size, another root
        assert not store.swap("o", stale, second)
        assert store.swap("o", first, second)
        assert not store.swap("o", first, State(3, b"\x03" * 32, "n3", 7))
        assert store.get("o") == second and store.get("p") is None
        assert store.origins() == [("o", 2)]
    finally:
        store.engine.dispose()


def test_racing_requests_one_wins_each_step_the_others_get_409_with_its_size(
    database_url: str, tmp_path: Path
) -> None:
    log = TestLog("log.example/race").grow(4)
    app = witness_app(tmp_path / "w", log, database_url=database_url)
    witness = app.extensions["witness"]
    sizes = [4]
    try:
        for step in range(4):
            old = sizes[-1]
            log.grow(3 + step)
            new = len(log.leaves)
            data = body(old if step else 0, log.proof(old) if step else [], log.checkpoint())
            outcomes: list[object] = []
            barrier = threading.Barrier(12)

            def submit(
                data: bytes = data,
                outcomes: list[object] = outcomes,
                barrier: threading.Barrier = barrier,
            ) -> None:
                barrier.wait()
                try:
                    outcomes.append(witness.add_checkpoint(data))
                except Refusal as exc:
                    outcomes.append((exc.status, exc.size))

            threads = [threading.Thread(target=submit) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wins = [o for o in outcomes if isinstance(o, str)]
            assert len(wins) == 1, outcomes
            assert sorted(o for o in outcomes if not isinstance(o, str)) == [(409, new)] * 11  # type: ignore[type-var]
            assert witness.store.get(log.origin).size == new
            sizes.append(new)
    finally:
        witness.store.engine.dispose()
