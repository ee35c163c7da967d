"""Inquiries and the labels staff confirm for them (issue 15, part 1).

``inquiry`` keeps a customer's free text with the ticket draft the model answered; once staff
confirm it, the ticket it became (unique: an inquiry becomes one ticket). ``inquiry_label``
keeps what staff confirmed, one row per inquiry, as training data for the model.

Revision ID: 0013_inquiries
Revises: 0012_report_indexes
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2.alembic_helpers import DropGeospatialTableOp

from api.db.spatial import geometry_column

revision: str = "0013_inquiries"
down_revision: str | None = "0012_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inquiry",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("location", geometry_column("POINT"), nullable=False),
        sa.Column("region_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("contact_name", sa.String(200), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        _at("confirmed_at", nullable=True),
        sa.CheckConstraint("status IN ('open', 'confirmed')", name=op.f("ck_inquiry_status")),
        sa.CheckConstraint(
            "(status = 'confirmed') = (ticket_id IS NOT NULL)",
            name=op.f("ck_inquiry_ticket_when_confirmed"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_inquiry_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_inquiry_ticket_id")),
    )
    op.create_index("ix_inquiry_source_id", "inquiry", ["source", "id"])
    op.create_index("ix_inquiry_status_id", "inquiry", ["status", "id"])
    op.create_table(
        "inquiry_label",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("inquiry_id", BIG_ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("corrected", sa.JSON(), nullable=False),
        sa.Column("confirmed_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["inquiry_id"], ["inquiry.id"], name=op.f("fk_inquiry_label_inquiry_id_inquiry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_label")),
        sa.UniqueConstraint("inquiry_id", name=op.f("uq_inquiry_label_inquiry_id")),
    )


def downgrade() -> None:
    op.drop_table("inquiry_label")
    op.drop_index("ix_inquiry_status_id", table_name="inquiry")
    op.drop_index("ix_inquiry_source_id", table_name="inquiry")
    # GeoAlchemy2's operation also drops SpatiaLite's R*Tree index tables and geometry entry.
    op.invoke(DropGeospatialTableOp("inquiry"))
