"""oidc_throttle: login failures per (account, address) and per address, with back-off

The counters change meaning (a key per account and address, the earliest time of the next
attempt instead of a lock flag), so the table is replaced. Its rows are short-lived counters;
dropping them forgets at most the last few minutes of failed sign-ins.

Revision ID: 0003_oidc_throttle
Revises: 0002_oidc
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_oidc_throttle"
down_revision = "0002_oidc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("oidc_throttle")
    op.create_table(
        "oidc_throttle",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_oidc_throttle_blocked_until", "oidc_throttle", ["blocked_until"])


def downgrade() -> None:
    op.drop_index("ix_oidc_throttle_blocked_until", table_name="oidc_throttle")
    op.drop_table("oidc_throttle")
    op.create_table(
        "oidc_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
