"""Dispatch runs, their plans and ticket assignments.

Revision ID: 0006_dispatch
Revises: 0005_settlement
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dispatch"
down_revision: str | None = "0005_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dispatch_run",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("region_id", sa.String(64), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("n_orders", sa.Integer(), nullable=False),
        sa.Column("n_technicians", sa.Integer(), nullable=False),
        sa.Column("ticket_versions", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("kpis", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        _at("created_at", nullable=False),
        _at("started_at"),
        _at("finished_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_run")),
    )
    op.create_index(op.f("ix_dispatch_run_status"), "dispatch_run", ["status"])
    op.create_index("ix_dispatch_run_day_region_id", "dispatch_run", ["day", "region_id"])
    op.create_table(
        "dispatch_plan",
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        _at("applied_at"),
        sa.Column("applied_by", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["dispatch_run.id"], name=op.f("fk_dispatch_plan_run_id_dispatch_run")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_dispatch_plan")),
    )
    op.create_index(op.f("ix_dispatch_plan_applied_at"), "dispatch_plan", ["applied_at"])
    op.create_table(
        "assignment",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=True),
        _at("eta_at"),
        _at("start_at"),
        _at("end_at"),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("run_id", BIG_ID, nullable=True),
        _at("assigned_at", nullable=False),
        sa.Column("assigned_by", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_assignment_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_assignment_technician_id_technician"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["dispatch_run.id"], name=op.f("fk_assignment_run_id_dispatch_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_assignment_ticket_id")),
    )
    op.create_index("ix_assignment_technician_id_day", "assignment", ["technician_id", "day"])


def downgrade() -> None:
    op.drop_table("assignment")
    op.drop_table("dispatch_plan")
    op.drop_table("dispatch_run")
