"""Customer value tiers: each customer's latest RFM score and the policy version it used.

Revision ID: 0015_customer_value
Revises: 0014_checklist_ticks
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_customer_value"
down_revision: str | None = "0014_checklist_ticks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "customer_value"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("recency", sa.SmallInteger(), nullable=False),
        sa.Column("frequency", sa.SmallInteger(), nullable=False),
        sa.Column("monetary", sa.SmallInteger(), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("billed_fen", sa.BigInteger(), nullable=False),
        sa.Column("last_service_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_customer_value_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_value")),
    )
    op.create_index(op.f("ix_customer_value_tier"), TABLE, ["tier"])


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_value_tier"), table_name=TABLE)
    op.drop_table(TABLE)
