"""A dispatch run's heartbeat (the last sign of life of the process that owns it); plan revisions.

A plan's ``revision`` goes up whenever its document changes (an urgent insertion) or it is
applied, so a process that keeps a copy can tell with one read whether it is current.

Revision ID: 0007_dispatch_run_heartbeat
Revises: 0006_dispatch
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_dispatch_run_heartbeat"
down_revision: str | None = "0006_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "dispatch_run", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "dispatch_plan", sa.Column("revision", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("dispatch_plan") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("dispatch_run") as batch:
        batch.drop_column("heartbeat_at")
