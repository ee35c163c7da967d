"""Leads and webhooks.

Lead owners, leads with touches and nurture steps; webhook subscriptions, deliveries, attempts
and the cursor of the delivery worker over the ``ticket_status_change`` outbox.

Revision ID: 0004_leads_webhooks
Revises: 0003_tickets
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2.alembic_helpers import DropGeospatialTableOp

from api.db.spatial import geometry_column

revision: str = "0004_leads_webhooks"
down_revision: str | None = "0003_tickets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str, *, ondelete: str | None = None) -> sa.Constraint:
    referred, _, _ = target.partition(".")
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def upgrade() -> None:
    _create_lead_tables()
    _create_webhook_tables()


def _create_lead_tables() -> None:
    op.create_table(
        "lead_owner",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("product_lines", sa.JSON(), nullable=False),
        sa.Column("max_open_leads", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_owner")),
    )
    op.create_index(op.f("ix_lead_owner_team"), "lead_owner", ["team"])
    op.create_table(
        "lead",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("campaign", sa.String(128), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("phone_raw", sa.String(64), nullable=True),
        sa.Column("email_raw", sa.String(320), nullable=True),
        sa.Column("phone_e164", sa.String(20), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_key", sa.String(320), nullable=True),
        sa.Column("product_line", sa.String(64), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("location", geometry_column("POINT"), nullable=True),
        sa.Column("region_id", sa.String(64), nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("rejection_code", sa.String(32), nullable=True),
        sa.Column("rejection_reason", sa.String(500), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("score_band", sa.String(8), nullable=True),
        sa.Column("score_lines", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("assignment_reason", sa.String(500), nullable=True),
        _at("assigned_at", nullable=True),
        _at("first_response_due_at", nullable=True),
        _at("first_responded_at", nullable=True),
        sa.Column("touch_count", sa.Integer(), nullable=False),
        _at("last_touched_at"),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        _at("converted_at", nullable=True),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _fk("lead", "owner_id", "lead_owner.id"),
        _fk("lead", "ticket_id", "ticket.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_lead_ticket_id")),
    )
    op.create_index(op.f("ix_lead_owner_id"), "lead", ["owner_id"])
    op.create_index("ix_lead_source_phone_e164", "lead", ["source", "phone_e164"])
    op.create_index("ix_lead_source_email_key", "lead", ["source", "email_key"])
    op.create_index(
        "ix_lead_status_first_response_due_at", "lead", ["status", "first_response_due_at"]
    )
    op.create_index("ix_lead_channel_campaign", "lead", ["channel", "campaign"])
    op.create_table(
        "lead_touch",
        _id(),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("campaign", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _at("at"),
        sa.Column("actor_key_id", sa.String(32), nullable=True),
        _fk("lead_touch", "lead_id", "lead.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_touch")),
    )
    op.create_index(op.f("ix_lead_touch_lead_id"), "lead_touch", ["lead_id"])
    op.create_table(
        "lead_nurture_step",
        _id(),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        _at("due_at"),
        _at("done_at", nullable=True),
        sa.Column("touch_id", BIG_ID, nullable=True),
        _fk("lead_nurture_step", "lead_id", "lead.id"),
        _fk("lead_nurture_step", "touch_id", "lead_touch.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_nurture_step")),
        sa.UniqueConstraint("lead_id", "seq", name="uq_lead_nurture_step_lead_id_seq"),
    )


def _create_webhook_tables() -> None:
    op.create_table(
        "webhook_subscription",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_index(op.f("ix_webhook_subscription_source"), "webhook_subscription", ["source"])
    op.create_table(
        "webhook_delivery",
        _id(),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        _at("next_attempt_at", nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        _at("created_at"),
        _at("completed_at", nullable=True),
        _fk("webhook_delivery", "subscription_id", "webhook_subscription.id", ondelete="CASCADE"),
        _fk("webhook_delivery", "change_id", "ticket_status_change.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint(
            "subscription_id", "change_id", name="uq_webhook_delivery_subscription_id_change_id"
        ),
    )
    op.create_index(
        "ix_webhook_delivery_status_next_attempt_at",
        "webhook_delivery",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "webhook_attempt",
        _id(),
        sa.Column("delivery_id", BIG_ID, nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        _at("started_at"),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("is_success", sa.Boolean(), nullable=False),
        _fk("webhook_attempt", "delivery_id", "webhook_delivery.id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    op.create_index(op.f("ix_webhook_attempt_delivery_id"), "webhook_attempt", ["delivery_id"])
    op.create_table(
        "webhook_cursor",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("last_change_id", sa.BigInteger(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_cursor")),
    )


def downgrade() -> None:
    for table in ("webhook_cursor", "webhook_attempt", "webhook_delivery", "webhook_subscription"):
        op.drop_table(table)
    op.drop_table("lead_nurture_step")
    op.drop_table("lead_touch")
    # The lead table has a geometry column: GeoAlchemy2's operation also drops SpatiaLite's
    # R*Tree index tables and geometry_columns entry.
    op.invoke(DropGeospatialTableOp("lead"))
    op.drop_table("lead_owner")
