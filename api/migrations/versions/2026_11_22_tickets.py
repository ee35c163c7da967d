"""Tickets and technicians.

Customers, tickets with status history and signatures, idempotency keys, technicians with
shifts and location pings.

Revision ID: 0003_tickets
Revises: 0002_api_keys
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2.alembic_helpers import DropGeospatialTableOp

from api.db.spatial import geometry_column

revision: str = "0003_tickets"
down_revision: str | None = "0002_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    _create_technician_tables()
    _create_ticket_tables()
    op.create_table(
        "idempotency_key",
        _id(),
        sa.Column("principal", sa.String(80), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        _at("created_at"),
        _at("locked_until"),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("principal", "key", name="uq_idempotency_key_principal_key"),
    )
    op.create_index(op.f("ix_idempotency_key_expires_at"), "idempotency_key", ["expires_at"])


def _create_technician_tables() -> None:
    op.create_table(
        "technician",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("home_base", geometry_column("POINT"), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("territory", sa.JSON(), nullable=True),
        sa.Column("max_orders", sa.Integer(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technician")),
    )
    op.create_table(
        "technician_shift",
        _id(),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _at("start_at"),
        _at("end_at"),
        sa.Column("breaks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_technician_shift_technician_id_technician"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technician_shift")),
        sa.UniqueConstraint("technician_id", "day", name="uq_technician_shift_technician_id_day"),
    )
    op.create_table(
        "technician_location",
        _id(),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("location", geometry_column("POINT"), nullable=False),
        _at("recorded_at"),
        _at("received_at"),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_technician_location_technician_id_technician"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technician_location")),
        sa.UniqueConstraint(
            "technician_id",
            "recorded_at",
            name="uq_technician_location_technician_id_recorded_at",
        ),
    )
    op.create_index("ix_technician_location_received_at", "technician_location", ["received_at"])


def _create_ticket_tables() -> None:
    op.create_table(
        "customer",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )
    op.create_table(
        "ticket",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("location", geometry_column("POINT"), nullable=False),
        sa.Column("region_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("time_windows", sa.JSON(), nullable=False),
        _at("window_start_at", nullable=True),
        _at("window_end_at", nullable=True),
        sa.Column("priority", sa.String(10), nullable=False),
        _at("sla_due_at", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("technician_id", sa.String(64), nullable=True),
        sa.Column("customer_id", BIG_ID, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["technician.id"], name=op.f("fk_ticket_technician_id_technician")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_ticket_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket")),
        sa.UniqueConstraint("source", "external_id", name="uq_ticket_source_external_id"),
    )
    op.create_index(op.f("ix_ticket_region_id"), "ticket", ["region_id"])
    op.create_index(op.f("ix_ticket_technician_id"), "ticket", ["technician_id"])
    op.create_index("ix_ticket_status_sla", "ticket", ["status", "sla_due_at"])
    op.create_index("ix_ticket_window", "ticket", ["window_start_at", "window_end_at"])
    op.create_table(
        "ticket_status_change",
        _id(),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        _at("at"),
        sa.Column("actor_key_id", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_status_change_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_status_change")),
    )
    op.create_index(
        op.f("ix_ticket_status_change_ticket_id"), "ticket_status_change", ["ticket_id"]
    )
    op.create_table(
        "ticket_signature",
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("signer_name", sa.String(200), nullable=False),
        _at("signed_at"),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("image_media_type", sa.String(32), nullable=True),
        _at("recorded_at"),
        sa.Column("actor_key_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_signature_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_signature")),
    )


def downgrade() -> None:
    # Tables with a geometry column go through GeoAlchemy2's operation, which also drops
    # SpatiaLite's R*Tree index tables and geometry_columns entries.
    for table in ("idempotency_key", "ticket_signature", "ticket_status_change"):
        op.drop_table(table)
    op.invoke(DropGeospatialTableOp("ticket"))
    op.drop_table("customer")
    op.invoke(DropGeospatialTableOp("technician_location"))
    op.drop_table("technician_shift")
    op.invoke(DropGeospatialTableOp("technician"))
