"""Adjustment requests: a large manual adjustment waits for a second admin (four eyes).

A request is decided once. Triggers refuse, on both databases, any change to a decided request
and any deletion; CHECK constraints keep the decision consistent (decided at and by whom unless
pending, a ledger entry exactly when approved) and refuse an approval by the requesting key.

Revision ID: 0009_adjustment_requests
Revises: 0008_ticket_work_facts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_adjustment_requests"
down_revision: str | None = "0008_ticket_work_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "adjustment_request"

# (trigger name, event, condition or None, message)
GUARDS = (
    (
        "adjustment_request_decided_no_update",
        "UPDATE",
        "OLD.status <> 'pending'",
        "a decided adjustment request is immutable",
    ),
    ("adjustment_request_no_delete", "DELETE", None, "adjustment requests are never deleted"),
)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _check(condition: str, name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{TABLE}_{name}"))


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("requested_by_key_id", sa.String(32), nullable=False),
        _at("requested_at"),
        sa.Column("decided_by_key_id", sa.String(32), nullable=True),
        _at("decided_at", nullable=True),
        sa.Column("decision_memo", sa.Text(), nullable=True),
        sa.Column("ledger_entry_id", BIG_ID, nullable=True),
        _check("status IN ('pending', 'approved', 'rejected')", "status"),
        _check(
            "(status = 'pending') = (decided_at IS NULL AND decided_by_key_id IS NULL)",
            "decided_when_not_pending",
        ),
        _check("(status = 'approved') = (ledger_entry_id IS NOT NULL)", "entry_when_approved"),
        _check("status <> 'approved' OR decided_by_key_id <> requested_by_key_id", "four_eyes"),
        _check("amount_fen <> 0", "amount_not_zero"),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_adjustment_request_technician_id_technician"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entry.id"],
            name=op.f("fk_adjustment_request_ledger_entry_id_ledger_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustment_request")),
        sa.UniqueConstraint("ledger_entry_id", name="uq_adjustment_request_ledger_entry_id"),
    )
    op.create_index("ix_adjustment_request_status_id", TABLE, ["status", "id"])
    op.create_index("ix_adjustment_request_technician_id_id", TABLE, ["technician_id", "id"])
    for name, event, condition, message in GUARDS:
        _create_guard(name, event, condition, message)


def _create_guard(name: str, event: str, condition: str | None, message: str) -> None:
    """Install a trigger that aborts ``event`` on the table (when ``condition`` holds)."""
    if op.get_bind().dialect.name == "sqlite":
        when = f" WHEN {condition}" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW{when} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        return
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; END $$"
    )
    when = f" WHEN ({condition})" if condition else ""
    op.execute(
        f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW{when} "
        f"EXECUTE FUNCTION {name}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for name, *_ in GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_adjustment_request_technician_id_id", table_name=TABLE)
    op.drop_index("ix_adjustment_request_status_id", table_name=TABLE)
    op.drop_table(TABLE)
