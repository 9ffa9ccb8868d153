"""Tables of the log engine shared by Rekor and the CT log (prefix ``tlog_``).

- ``tlog_trees``: one row per log (tree): its key, and its latest committed head (size, root, signed
  note). Writers lock this row for the length of a batch, which is how several workers and hosts
  agree on one sequence. ``frozen_ms`` (with ``successor``, the log that replaces it) marks a
  log frozen for good: its head is its final checkpoint and every later append is refused.
- ``tlog_entries``: the leaves, by index; ``identity`` (unique per tree) is what deduplicates.
- ``tlog_tiles``: RFC 6962 hashes as C2SP tlog-tiles (256 hashes of one level per tile; level L holds
  the roots of complete 256^L-leaf subtrees). The rightmost tile of a level is rewritten as it fills;
  its content only ever grows, so any prefix of it is immutable.
"""

from __future__ import annotations

from typing import Any

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
)

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


def lock_head(conn: Connection, tree_id: int) -> Any:
    """Lock the tree's row for the transaction (``SELECT ... FOR UPDATE`` on PostgreSQL; on
    SQLite the transaction is ``BEGIN IMMEDIATE`` already) and return its head and frozen state:
    how writers and freezing agree on one sequence."""
    if conn.dialect.name == "postgresql":
        sql = _HEAD + "WHERE tree_id = %(t)s FOR UPDATE"
    else:
        sql = _HEAD + "WHERE tree_id = :t"
    return conn.exec_driver_sql(sql, {"t": tree_id}).one()
