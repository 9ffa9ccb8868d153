"""tlog_trees.frozen_ms and .successor: a log frozen for good (read-only), and the log that
replaces it (issue 17, log shard rotation)

A frozen log takes no entry any more; its head (``size``, ``root_hash``, ``note``) is its final
checkpoint, kept for ever. Both columns are NULL for a log that is still open.

Revision ID: 0006_tlog_frozen
Revises: 0005_oidc_connectors
Create Date: 2026-12-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_tlog_frozen"
down_revision = "0005_oidc_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tlog_trees") as batch:
        batch.add_column(sa.Column("frozen_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("successor", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tlog_trees") as batch:
        batch.drop_column("successor")
        batch.drop_column("frozen_ms")
