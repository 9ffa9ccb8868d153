"""log engine tables (tlog_trees, tlog_entries, tlog_tiles) and Rekor's search index

Revision ID: 0001_tlog
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_tlog"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_trees",
        sa.Column("tree_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "tlog_entries",
        sa.Column("tree_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("identity", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("extra", sa.LargeBinary(), nullable=False),
        sa.Column("integrated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tree_id", "idx", name="pk_tlog_entries"),
        sa.UniqueConstraint("tree_id", "identity", name="uq_tlog_entries_identity"),
    )
    op.create_index("ix_tlog_entries_leaf_hash", "tlog_entries", ["tree_id", "leaf_hash"])
    op.create_table(
        "tlog_tiles",
        sa.Column("tree_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tree_id", "level", "idx", name="pk_tlog_tiles"),
    )
    op.create_table(
        "rekor_index",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("tree_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "tree_id", "idx", name="pk_rekor_index"),
    )


def downgrade() -> None:
    op.drop_table("rekor_index")
    op.drop_table("tlog_tiles")
    op.drop_index("ix_tlog_entries_leaf_hash", table_name="tlog_entries")
    op.drop_table("tlog_entries")
    op.drop_table("tlog_trees")
