"""``runtime.db.bulk_insert`` on real SQLite and PostgreSQL: plain inserts and upserts of more rows
than one SQLite statement takes (they are split), every value kept, nothing half-written when a
row is refused, and what an upsert replaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from sigstack.services.rekor.store import index
from sigstack.services.runtime import db
from sigstack.services.tlog import store
from tests.support.dbs import upgraded_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with upgraded_database(request.param, tmp_path / "bulk.db") as url:
        made = db.make_engine(url)
        yield made
        made.dispose()


def test_more_rows_than_one_statement_takes(engine: Engine) -> None:
    # 3 columns: 333 rows per SQLite statement, so 1,000 rows take four
    rows = [{"key": f"k{i % 7}:{i}", "tree_id": 5, "idx": i} for i in range(1000)]
    with engine.begin() as conn:
        db.bulk_insert(conn, index, rows)
    with engine.connect() as conn:
        found = conn.execute(select(index.c.key, index.c.tree_id, index.c.idx)).all()
    assert sorted((k, t, i) for k, t, i in found) == sorted(
        (r["key"], r["tree_id"], r["idx"]) for r in rows
    )


def test_a_refused_row_leaves_nothing_of_the_statement_group(engine: Engine) -> None:
    """A duplicate key in the last chunk: the transaction fails and none of the rows stays
    (PostgreSQL's COPY raises psycopg's own error, not SQLAlchemy's)."""
    rows = [{"key": "same" if i in (0, 999) else f"k{i}", "tree_id": 1, "idx": 0 if i in (0, 999)
             else i} for i in range(1000)]  # fmt: skip
    with pytest.raises((IntegrityError, psycopg.IntegrityError)), engine.begin() as conn:
        db.bulk_insert(conn, index, rows)
    with engine.connect() as conn:
        assert conn.execute(select(index.c.key)).all() == []


def test_upserts_replace_the_other_columns(engine: Engine) -> None:
    first = [{"tree_id": 9, "level": 0, "idx": i, "hashes": bytes([i % 256]) * 32}
             for i in range(600)]  # fmt: skip
    with engine.begin() as conn:
        db.bulk_insert(conn, store.tiles, first, conflict=("tree_id", "level", "idx"))
    grown = [{"tree_id": 9, "level": 0, "idx": i, "hashes": bytes([i % 256]) * 64}
             for i in range(300, 900)]  # fmt: skip
    with engine.begin() as conn:
        db.bulk_insert(conn, store.tiles, grown, conflict=("tree_id", "level", "idx"))
    t = store.tiles
    with engine.connect() as conn:
        found = {r.idx: bytes(r.hashes) for r in conn.execute(select(t.c.idx, t.c.hashes))}
    assert sorted(found) == list(range(900))
    assert all(len(found[i]) == (32 if i < 300 else 64) for i in found)
    assert all(found[i][:1] == bytes([i % 256]) for i in found)
