"""oidc connectors: people who sign in through an LDAP directory or an OpenID Connect provider,
and upstream sign-ins in progress (issue 16)

Revision ID: 0005_oidc_connectors
Revises: 0004_witness
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_oidc_connectors"
down_revision = "0004_witness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_connector_identities",
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("connector_id", sa.String(length=64), nullable=False),
        sa.Column("upstream_sub", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_login", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sub"),
        sa.UniqueConstraint(
            "connector_id", "upstream_sub", name="uq_oidc_connector_identities_upstream"
        ),
    )
    op.create_table(
        "oidc_upstream_logins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("connector_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=True),
        sa.Column("finish_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash"),
        sa.UniqueConstraint("finish_hash"),
    )
    op.create_index("ix_oidc_upstream_logins_expires_at", "oidc_upstream_logins", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_upstream_logins_expires_at", table_name="oidc_upstream_logins")
    op.drop_table("oidc_upstream_logins")
    op.drop_table("oidc_connector_identities")
