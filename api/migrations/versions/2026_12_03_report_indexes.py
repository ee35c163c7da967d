"""Indexes for the managers' reports (``api/reports``, docs/reports.md).

A report reads one period of rows and groups them on the database; these indexes find the
period's rows without a scan of the whole table and make the lookups per ticket index-only:

- ``ticket_status_change (ticket_id, to_status, at)``: a ticket's first ``completed``,
  ``on_site`` and ``en_route`` (resolution SLA, utilisation);
- ``ticket_status_change (to_status, at)``: the tickets completed in a period (utilisation);
- ``lead (created_at)``, ``ticket (sla_due_at)``, ``settlement (service_date)``: the leads
  captured, the deadlines falling and the orders served in a period.

Revision ID: 0012_report_indexes
Revises: 0011_customer_price_lists
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_report_indexes"
down_revision: str | None = "0011_customer_price_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_ticket_status_change_ticket_id_to_status_at", "ticket_status_change",
     ["ticket_id", "to_status", "at"]),
    ("ix_ticket_status_change_to_status_at", "ticket_status_change", ["to_status", "at"]),
    ("ix_lead_created_at", "lead", ["created_at"]),
    ("ix_ticket_sla_due_at", "ticket", ["sla_due_at"]),
    ("ix_settlement_service_date", "settlement", ["service_date"]),
)  # fmt: skip


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
