"""Tables of the log engine shared by Rekor and the CT log (prefix ``tlog_``).

- ``tlog_trees``: one row per log (tree): its key, and its latest committed head (size, root, signed
  note). Writers lock this row for the length of a batch, which is how several workers and hosts
  agree on one sequence. ``frozen_ms`` (with ``successor``, the log that replaces it) marks a
  log frozen for good: its head is its final checkpoint and every later append is refused.
- ``tlog_entries``: the leaves, by index; ``identity`` (unique per tree) is what deduplicates.
- ``tlog_tiles``: RFC 6962 hashes as C2SP tlog-tiles (256 hashes of one level per tile; level L holds
  the roots of complete 256^L-leaf subtrees). The rightmost tile of a level is rewritten as it fills;
  its content only ever grows, so any prefix of it is immutable.

And the engine's SQL (``engine``): finding and creating a tree, locking its head, the batch's
duplicate lookup, tile writes and head update (raw driver SQL where the batch's hot path is).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    tuple_,
)

from sigstack.protocol import merkle
from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import db
from sigstack.services.runtime.db import metadata

trees = Table(
    "tlog_trees",
    metadata,
    Column("tree_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("frozen_ms", BigInteger, nullable=True),  # set once: the log is read-only for good
    Column("successor", String(2048), nullable=True),  # the URL of the log that replaces it
)

entries = Table(
    "tlog_entries",
    metadata,
    Column("tree_id", BigInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("identity", LargeBinary, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("extra", LargeBinary, nullable=False),
    Column("integrated_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("tree_id", "idx", name="pk_tlog_entries"),
    UniqueConstraint("tree_id", "identity", name="uq_tlog_entries_identity"),
    Index("ix_tlog_entries_leaf_hash", "tree_id", "leaf_hash"),
)

tiles = Table(
    "tlog_tiles",
    metadata,
    Column("tree_id", BigInteger, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
    PrimaryKeyConstraint("tree_id", "level", "idx", name="pk_tlog_tiles"),
)


_HEAD = "SELECT size, root_hash, timestamp_ms, note, frozen_ms, successor FROM tlog_trees "


class Head(NamedTuple):
    """A tree's row as ``lock_head`` reads it (the columns of ``_HEAD``)."""

    size: int
    root_hash: bytes
    timestamp_ms: int
    note: str
    frozen_ms: int | None
    successor: str | None


def lock_head(conn: Connection, tree_id: int) -> Any:
    """Lock the tree's row for the transaction (``SELECT ... FOR UPDATE`` on PostgreSQL; on
    SQLite the transaction is ``BEGIN IMMEDIATE`` already) and return its head and frozen state:
    how writers and freezing agree on one sequence."""
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql(
            _HEAD + "WHERE tree_id = %(t)s FOR UPDATE", {"t": tree_id}
        ).one()
    rows = db.sqlite_rows(conn, _HEAD + "WHERE tree_id = ?", (tree_id,))
    if len(rows) != 1:
        raise ConfigError(f"log {tree_id} has no row in tlog_trees")
    return Head(*rows[0])


def find_tree(conn: Connection, name: str) -> Any:
    """The ``tree_id`` and ``public_key`` of the log called ``name``, or None."""
    return conn.execute(
        select(trees.c.tree_id, trees.c.public_key).where(trees.c.name == name)
    ).first()


def create_tree(conn: Connection, name: str, public_key: bytes) -> int:
    """Insert an empty tree and return its new random ID. The empty head is unsigned (note ""):
    personalities sign it on read."""
    tree_id = secrets.randbelow(1 << 62) + 1
    conn.execute(
        insert(trees).values(
            tree_id=tree_id,
            name=name,
            public_key=public_key,
            size=0,
            root_hash=merkle.EMPTY_ROOT,
            timestamp_ms=int(time.time() * 1000),
            note="",
        )
    )
    return tree_id


def existing(
    conn: Connection, tree_id: int, identities: list[bytes]
) -> dict[bytes, tuple[int, int]]:
    """identity -> (index, integrated_ms) for those already in the log (raw SQL: hot path).

    On PostgreSQL the query is planned for its values on every batch, never prepared: psycopg
    prepares a statement on its fifth run, and the generic plan PostgreSQL keeps for it, chosen
    while the log was small, read every entry of the tree (an index scan on ``tree_id`` alone,
    ``identity`` filtered). The batch's database CPU then grew with the log (1.1 -> 3.5-5.3 ms per
    batch of 16 over the first 9,600 entries, bench/README.md) until an autovacuum ANALYZE
    happened to drop the plan; planned each time, it stays flat.
    """
    sql = "SELECT identity, idx, integrated_ms FROM tlog_entries WHERE tree_id = "
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(sql + "%(t)s AND identity = ANY(%(ids)s)",
                           {"t": tree_id, "ids": identities}, prepare=False)  # fmt: skip
            return {bytes(r[0]): (r[1], r[2]) for r in cursor.fetchall()}
    marks = ",".join("?" * len(identities))
    result = db.sqlite_rows(conn, sql + f"? AND identity IN ({marks})", (tree_id, *identities))
    return {bytes(r[0]): (r[1], r[2]) for r in result}


def insert_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert a batch's new ``tlog_entries`` rows."""
    db.bulk_insert(conn, entries, rows)


def store_tiles(conn: Connection, tree_id: int, changed: Iterable[tuple[int, int, bytes]]) -> None:
    """Write (or overwrite) the tiles a batch changed: (level, index, hashes) each."""
    rows = [{"tree_id": tree_id, "level": lv, "idx": ix, "hashes": data}
            for lv, ix, data in changed]  # fmt: skip
    db.bulk_insert(conn, tiles, rows, conflict=("tree_id", "level", "idx"))


def load_tiles(
    conn: Connection, tree_id: int, needed: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """(level, index) -> hashes of the ``needed`` tiles that exist."""
    found: dict[tuple[int, int], bytes] = {}
    if needed:
        t = tiles
        for r in conn.execute(
            select(t.c.level, t.c.idx, t.c.hashes).where(
                t.c.tree_id == tree_id, tuple_(t.c.level, t.c.idx).in_(needed)
            )
        ):
            found[(r.level, r.idx)] = bytes(r.hashes)
    return found


def update_head(
    conn: Connection, tree_id: int, size: int, root: bytes, timestamp_ms: int, note: str
) -> None:
    """Store the batch's new signed head in the tree's (locked) row."""
    sql = "UPDATE tlog_trees SET size = {}, root_hash = {}, timestamp_ms = {}, note = {} "
    if conn.dialect.name == "postgresql":
        marks = ("%(s)s", "%(r)s", "%(ts)s", "%(n)s", "%(t)s")
        params = {"s": size, "r": root, "ts": timestamp_ms, "n": note, "t": tree_id}
        conn.exec_driver_sql((sql + "WHERE tree_id = {}").format(*marks), params)
    else:
        db.sqlite_rows(conn, sql.format(*"????") + "WHERE tree_id = ?",
                       (size, root, timestamp_ms, note, tree_id))  # fmt: skip
