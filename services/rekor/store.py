"""Rekor's own table (prefix ``rekor_``): the search index, written in the same transaction as the
batch that sequences the entries, so the index never drifts from the log."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table

from sigstack.services.runtime.db import metadata

index = Table(
    "rekor_index",
    metadata,
    Column("key", String(512), nullable=False),
    Column("tree_id", BigInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    PrimaryKeyConstraint("key", "tree_id", "idx", name="pk_rekor_index"),
)
