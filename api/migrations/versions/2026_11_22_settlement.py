"""Settlement: rate-card versions, settlements and the append-only ledger.

Triggers enforce what the code promises: ``settlement`` and ``ledger_entry`` rows are never
updated or deleted, and a rate-card version that has priced an order (``first_used_at`` set) is
frozen. Both SQLite and PostgreSQL run them.

Revision ID: 0005_settlement
Revises: 0004_leads_webhooks
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_settlement"
down_revision: str | None = "0004_leads_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# (trigger name, table, event, condition or None, message)
GUARDS = (
    ("settlement_no_update", "settlement", "UPDATE", None, "settlement rows are immutable"),
    ("settlement_no_delete", "settlement", "DELETE", None, "settlement rows are immutable"),
    ("ledger_entry_no_update", "ledger_entry", "UPDATE", None, "the ledger is append-only"),
    ("ledger_entry_no_delete", "ledger_entry", "DELETE", None, "the ledger is append-only"),
    (
        "rate_card_version_used_no_update",
        "rate_card_version",
        "UPDATE",
        "OLD.first_used_at IS NOT NULL",
        "a rate-card version that priced orders is immutable",
    ),
    (
        "rate_card_version_used_no_delete",
        "rate_card_version",
        "DELETE",
        "OLD.first_used_at IS NOT NULL",
        "a rate-card version that priced orders is immutable",
    ),
)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[object]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "rate_card_version",
        _id(),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("document_format", sa.String(8), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        _at("created_at"),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        _at("first_used_at", nullable=True),
        sa.CheckConstraint(
            "document_format IN ('toml', 'json')",
            name=op.f("ck_rate_card_version_document_format"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_card_version")),
        sa.UniqueConstraint("card_id", "version", name="uq_rate_card_version_card_id_version"),
    )
    op.create_index(
        op.f("ix_rate_card_version_effective_from"), "rate_card_version", ["effective_from"]
    )
    _create_settlement()
    _create_ledger_entry()
    for name, table, event, condition, message in GUARDS:
        _create_guard(name, table, event, condition, message)


def _create_settlement() -> None:
    op.create_table(
        "settlement",
        _id(),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("rate_card_version_id", BIG_ID, nullable=False),
        sa.Column("rate_card_version", sa.String(80), nullable=False),
        sa.Column("service_type", sa.String(40), nullable=False),
        sa.Column("region_id", sa.String(64), nullable=True),
        _at("service_at"),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("nth_in_period", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        _at("settled_at"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_settlement_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_settlement_technician_id_technician"),
        ),
        sa.ForeignKeyConstraint(
            ["rate_card_version_id"],
            ["rate_card_version.id"],
            name=op.f("fk_settlement_rate_card_version_id_rate_card_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement")),
        sa.UniqueConstraint(
            "ticket_id",
            "rate_card_version_id",
            name="uq_settlement_ticket_id_rate_card_version_id",
        ),
    )
    op.create_index(
        "ix_settlement_technician_id_service_date",
        "settlement",
        ["technician_id", "service_date"],
    )


def _create_ledger_entry() -> None:
    op.create_table(
        "ledger_entry",
        _id(),
        sa.Column("technician_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        sa.Column("settlement_id", BIG_ID, nullable=True),
        sa.Column("reverses_entry_id", BIG_ID, nullable=True),
        _at("created_at"),
        sa.Column("actor_key_id", sa.String(32), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('earning', 'adjustment', 'reversal', 'withdrawal')",
            name=op.f("ck_ledger_entry_entry_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technician.id"],
            name=op.f("fk_ledger_entry_technician_id_technician"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ledger_entry_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlement.id"],
            name=op.f("fk_ledger_entry_settlement_id_settlement"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["ledger_entry.id"],
            name=op.f("fk_ledger_entry_reverses_entry_id_ledger_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("reverses_entry_id", name="uq_ledger_entry_reverses_entry_id"),
    )
    op.create_index(op.f("ix_ledger_entry_settlement_id"), "ledger_entry", ["settlement_id"])
    op.create_index("ix_ledger_entry_technician_id_id", "ledger_entry", ["technician_id", "id"])


def _create_guard(name: str, table: str, event: str, condition: str | None, message: str) -> None:
    """Install a trigger that aborts ``event`` on ``table`` (when ``condition`` holds)."""
    if op.get_bind().dialect.name == "sqlite":
        when = f" WHEN {condition}" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW{when} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        return
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; END $$"
    )
    when = f" WHEN ({condition})" if condition else ""
    op.execute(
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW{when} "
        f"EXECUTE FUNCTION {name}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for name, table, *_ in GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("ledger_entry")
    op.drop_table("settlement")
    op.drop_index(op.f("ix_rate_card_version_effective_from"), table_name="rate_card_version")
    op.drop_table("rate_card_version")
