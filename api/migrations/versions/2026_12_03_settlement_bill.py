"""Settlements carry the customer's bill total of the same job, for the cost report's margin.

Settlements made before this have no bill total (null): the margin counts only orders with
one. Adding nullable columns leaves the table's append-only triggers as they are.

Revision ID: 0016_settlement_bill
Revises: 0015_customer_value
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_settlement_bill"
down_revision: str | None = "0015_customer_value"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("settlement", sa.Column("bill_total_fen", sa.BigInteger(), nullable=True))
    op.add_column("settlement", sa.Column("bill_currency", sa.String(3), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy would lose the triggers.
    for column in ("bill_currency", "bill_total_fen"):
        op.execute(f"ALTER TABLE settlement DROP COLUMN {column}")
