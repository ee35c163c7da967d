"""Escalation rules' firings, ticket approvals, webhook deliveries of firings (issue 15, part 3).

``escalation_firing`` records every firing of a rule with the facts and the actions taken; its
unique (rule, subject, condition) makes a rule fire once per ticket or lead and condition.
``ticket_approval`` holds a ticket from dispatch until staff approve it. A ``webhook_delivery``
now carries either a status change or a firing (``firing_id``), and a lead's firing has no
ticket, so ``change_id`` and ``ticket_id`` become nullable.

Revision ID: 0018_escalations
Revises: 0017_devices
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_escalations"
down_revision: str | None = "0017_devices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "escalation_firing",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(48), nullable=False),
        sa.Column("rules_version", sa.String(80), nullable=False),
        sa.Column("subject_kind", sa.String(10), nullable=False),
        sa.Column("subject_id", BIG_ID, nullable=False),
        sa.Column("condition_key", sa.String(48), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        _at("fired_at"),
        sa.CheckConstraint(
            "subject_kind IN ('ticket', 'lead')", name=op.f("ck_escalation_firing_subject_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_firing")),
        sa.UniqueConstraint(
            "rule_id",
            "subject_kind",
            "subject_id",
            "condition_key",
            name=op.f("uq_escalation_firing_rule_subject_condition"),
        ),
    )
    op.create_index(
        "ix_escalation_firing_subject_kind_subject_id",
        "escalation_firing",
        ["subject_kind", "subject_id"],
    )
    op.create_table(
        "ticket_approval",
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("firing_id", BIG_ID, nullable=False),
        _at("required_at"),
        sa.Column("approved_by_key_id", sa.String(32), nullable=True),
        _at("approved_at", nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved')", name=op.f("ck_ticket_approval_status")
        ),
        sa.CheckConstraint(
            "(status = 'approved') = (approved_at IS NOT NULL)",
            name=op.f("ck_ticket_approval_approved_at"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_approval_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["firing_id"],
            ["escalation_firing.id"],
            name=op.f("fk_ticket_approval_firing_id_escalation_firing"),
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_approval")),
    )
    # SQLite alters a column by copying the table: batch mode does that on SQLite only.
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.add_column(sa.Column("firing_id", BIG_ID, nullable=True))
        batch.alter_column("change_id", existing_type=BIG_ID, nullable=True)
        batch.alter_column("ticket_id", existing_type=BIG_ID, nullable=True)
        batch.create_foreign_key(
            op.f("fk_webhook_delivery_firing_id_escalation_firing"),
            "escalation_firing",
            ["firing_id"],
            ["id"],
        )
        batch.create_unique_constraint(
            op.f("uq_webhook_delivery_subscription_id_firing_id"), ["subscription_id", "firing_id"]
        )


def downgrade() -> None:
    # A firing's deliveries have no status change to point at: they go with the firings.
    op.execute("DELETE FROM webhook_attempt WHERE delivery_id IN "
               "(SELECT id FROM webhook_delivery WHERE firing_id IS NOT NULL)")  # fmt: skip
    op.execute("DELETE FROM webhook_delivery WHERE firing_id IS NOT NULL")
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.drop_constraint(op.f("uq_webhook_delivery_subscription_id_firing_id"), type_="unique")
        batch.drop_constraint(
            op.f("fk_webhook_delivery_firing_id_escalation_firing"), type_="foreignkey"
        )
        batch.alter_column("ticket_id", existing_type=BIG_ID, nullable=False)
        batch.alter_column("change_id", existing_type=BIG_ID, nullable=False)
        batch.drop_column("firing_id")
    op.drop_table("ticket_approval")
    op.drop_index("ix_escalation_firing_subject_kind_subject_id", table_name="escalation_firing")
    op.drop_table("escalation_firing")
