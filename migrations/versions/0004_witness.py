"""witness_checkpoints: per log origin, the last checkpoint the witness cosigned

The C2SP tlog-witness state (services/witness/store.py): one row per origin, replaced by
compare-and-swap (a conditional UPDATE, or INSERT ... ON CONFLICT DO NOTHING for the first).

Revision ID: 0004_witness
Revises: 0003_oidc_throttle
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_witness"
down_revision = "0003_oidc_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witness_checkpoints",
        sa.Column("origin", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("origin"),
    )


def downgrade() -> None:
    op.drop_table("witness_checkpoints")
