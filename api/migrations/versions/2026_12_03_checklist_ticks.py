"""Service procedures: the checklist items ticked on each ticket, with their photos.

Revision ID: 0014_checklist_ticks
Revises: 0013_inquiries
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_checklist_ticks"
down_revision: str | None = "0013_inquiries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "checklist_tick"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("procedure_key", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(53), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_media_type", sa.String(32), nullable=True),
        sa.Column("ticked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_checklist_tick_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_tick")),
        sa.UniqueConstraint("ticket_id", "item_id", name="uq_checklist_tick_ticket_id_item_id"),
    )
    op.create_index(op.f("ix_checklist_tick_ticket_id"), TABLE, ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_checklist_tick_ticket_id"), table_name=TABLE)
    op.drop_table(TABLE)
