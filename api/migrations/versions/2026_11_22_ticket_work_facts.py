"""Ticket work facts and one-transaction idempotency keys.

Tickets gain what dispatch and pay need (``demand``, ``units``, ``difficulty``, ``materials``),
confirmations the customer's ``rating``. Idempotency keys are now written only with their
answer, in the request's own transaction, so ``status`` and ``locked_until`` go (a key still
in flight from the previous version never got an answer and is deleted: its retry runs afresh).

Revision ID: 0008_ticket_work_facts
Revises: 0007_dispatch_run_heartbeat
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_ticket_work_facts"
down_revision: str | None = "0007_dispatch_run_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ALTER TABLE ... ADD COLUMN with a named column CHECK reads the same on PostgreSQL and SQLite,
# and SQLite cannot add a constraint to an existing table any other way short of rebuilding it
# (with its SpatiaLite geometry column and index).
_CHECKED_COLUMNS = (
    ("ticket", "demand INTEGER DEFAULT 0 NOT NULL CONSTRAINT ck_ticket_demand CHECK (demand >= 0)"),
    ("ticket", "units INTEGER DEFAULT 1 NOT NULL CONSTRAINT ck_ticket_units CHECK (units >= 1)"),
    (
        "ticket_signature",
        "rating SMALLINT CONSTRAINT ck_ticket_signature_rating CHECK (rating BETWEEN 1 AND 5)",
    ),
)


def upgrade() -> None:
    for table, column in _CHECKED_COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    for name in ("difficulty", "materials"):
        op.add_column("ticket", sa.Column(name, sa.JSON(), server_default="[]", nullable=False))
    op.execute("DELETE FROM idempotency_key WHERE status <> 'done'")
    with op.batch_alter_table("idempotency_key") as batch:
        batch.drop_column("status")
        batch.drop_column("locked_until")
        batch.alter_column("response_status", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("response_body", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_key") as batch:
        batch.alter_column("response_body", existing_type=sa.JSON(), nullable=True)
        batch.alter_column("response_status", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("status", sa.String(12), server_default="done", nullable=False))
        batch.add_column(
            sa.Column(
                "locked_until",
                sa.DateTime(timezone=True),
                server_default=sa.func.current_timestamp(),
                nullable=False,
            )
        )
    for table, column in (*_CHECKED_COLUMNS, ("ticket", "difficulty"), ("ticket", "materials")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}")
