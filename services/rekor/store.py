"""Rekor's own table (prefix ``rekor_``) and its SQL: the search index, written in the same
transaction as the batch that sequences the entries, so the index never drifts from the log.

Both Rekor logs keep their keys here, each under its own tree ID: the v1 log (``services.rekor``)
searches it for entry UUIDs, the v2 log (``services.rekor2``) for log indexes, a page at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    select,
)

from sigstack.services.runtime import db
from sigstack.services.runtime.db import metadata
from sigstack.services.tlog import Sequenced
from sigstack.services.tlog import store as tlog_store

index = Table(
    "rekor_index",
    metadata,
    Column("key", String(512), nullable=False),
    Column("tree_id", BigInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    PrimaryKeyConstraint("key", "tree_id", "idx", name="pk_rekor_index"),
)


def add_keys(conn: Connection, tree_id: int, sequenced: Sequence[Sequenced]) -> None:
    """Index the entries of a batch under their keys, in the batch's transaction (``conn``)."""
    rows = [{"key": key, "tree_id": tree_id, "idx": entry.index}
            for entry in sequenced for key in entry.keys]  # fmt: skip
    if rows:
        db.bulk_insert(conn, index, rows)


def leaf_hashes_matching(
    engine: Engine, tree_id: int, criteria: Sequence[Sequence[str]], operator: str
) -> set[bytes]:
    """Leaf hashes of the entries matching any (``or``) or every (``and``) criterion, where a
    criterion matches an entry carrying any of its alternative keys (the v1 search)."""
    e, ix = tlog_store.entries, index
    results: list[set[bytes]] = []
    with engine.connect() as conn:
        for alternatives in criteria:
            rows = conn.execute(
                select(e.c.leaf_hash)
                .select_from(ix.join(e, (e.c.tree_id == ix.c.tree_id) & (e.c.idx == ix.c.idx)))
                .where(ix.c.tree_id == tree_id, ix.c.key.in_(list(alternatives)))
            )
            results.append({bytes(r.leaf_hash) for r in rows})
    if not results:
        return set()
    return set.intersection(*results) if operator == "and" else set.union(*results)


def indexes_matching(
    engine: Engine,
    tree_id: int,
    keys: Sequence[str],
    operator: str,
    *,
    after: int,
    limit: int,
    size: int,
) -> list[int]:
    """Indexes below ``size`` and above ``after`` of the entries carrying any (``or``) or all
    (``and``) of ``keys``, lowest first, at most ``limit`` (the v2 search)."""
    ix = index
    keys = list(dict.fromkeys(keys))
    query = (
        select(ix.c.idx)
        .where(ix.c.tree_id == tree_id, ix.c.key.in_(keys), ix.c.idx > after, ix.c.idx < size)
        .group_by(ix.c.idx)
        .order_by(ix.c.idx)
        .limit(limit)
    )
    if operator == "and" and len(keys) > 1:
        query = query.having(func.count() == len(keys))
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]
