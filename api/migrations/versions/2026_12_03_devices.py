"""Devices, their readings and alarms, and the incidents alarm rules open (issue 15, part 2).

``device`` is an installed unit of a source (external id unique per source) with its customer,
location, model and warranty. ``device_event`` keeps every reading and alarm as posted.
``device_incident`` is a fault rules found, with the maintenance ticket it opened; a partial
unique index keeps one open incident per device and fault, which is what makes a storm of one
alarm, however concurrent, open one ticket.

Revision ID: 0017_devices
Revises: 0016_settlement_bill
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2.alembic_helpers import DropGeospatialTableOp

from api.db.spatial import geometry_column

revision: str = "0017_devices"
down_revision: str | None = "0016_settlement_bill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_INCIDENT = sa.text("status = 'open'")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "device",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("location", geometry_column("POINT"), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("warranty_until", sa.Date(), nullable=True),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_device_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_device_source")),
    )
    op.create_index("ix_device_customer_id", "device", ["customer_id"])
    op.create_table(
        "device_event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("fault_code", sa.String(32), nullable=True),
        sa.Column("metric", sa.String(48), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        _at("occurred_at"),
        _at("received_at"),
        sa.CheckConstraint("kind IN ('reading', 'alarm')", name=op.f("ck_device_event_kind")),
        sa.CheckConstraint(
            "(kind = 'reading') = (metric IS NOT NULL AND value IS NOT NULL)",
            name=op.f("ck_device_event_reading"),
        ),
        sa.CheckConstraint(
            "(kind = 'alarm') = (fault_code IS NOT NULL)", name=op.f("ck_device_event_alarm")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_device_event_device_id_device")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_event")),
    )
    op.create_index(
        "ix_device_event_device_id_occurred_at", "device_event", ["device_id", "occurred_at"]
    )
    op.create_table(
        "device_incident",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", BIG_ID, nullable=False),
        sa.Column("fault_key", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(48), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        _at("first_event_at"),
        _at("last_event_at"),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _at("opened_at"),
        _at("closed_at", nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_device_incident_status")),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)",
            name=op.f("ck_device_incident_closed_at"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_device_incident_device_id_device")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_device_incident_ticket_id_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_incident")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_device_incident_ticket_id")),
    )
    op.create_index("ix_device_incident_device_id_id", "device_incident", ["device_id", "id"])
    op.create_index(
        "uq_device_incident_open_fault", "device_incident", ["device_id", "fault_key"],
        unique=True, postgresql_where=OPEN_INCIDENT, sqlite_where=OPEN_INCIDENT,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_device_incident_open_fault", table_name="device_incident")
    op.drop_index("ix_device_incident_device_id_id", table_name="device_incident")
    op.drop_table("device_incident")
    op.drop_index("ix_device_event_device_id_occurred_at", table_name="device_event")
    op.drop_table("device_event")
    op.drop_index("ix_device_customer_id", table_name="device")
    # GeoAlchemy2's operation also drops SpatiaLite's R*Tree index tables and geometry entry.
    op.invoke(DropGeospatialTableOp("device"))
