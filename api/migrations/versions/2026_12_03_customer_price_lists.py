"""Customer price lists: versioned documents that price the customer's bill.

A version is written once: triggers refuse any UPDATE or DELETE on both databases, since bills
are computed from the version in force at a job's service time.

Revision ID: 0011_customer_price_lists
Revises: 0010_customer_identity
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_customer_price_lists"
down_revision: str | None = "0010_customer_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "price_list_version"
MESSAGE = "a price-list version is never changed: publish a new version"
GUARDS = (("price_list_version_no_update", "UPDATE"), ("price_list_version_no_delete", "DELETE"))


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("document_format", sa.String(8), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_key_id", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "document_format IN ('toml', 'json')",
            name=op.f("ck_price_list_version_document_format"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_list_version")),
        sa.UniqueConstraint("list_id", "version", name="uq_price_list_version_list_id_version"),
    )
    op.create_index(op.f("ix_price_list_version_effective_from"), TABLE, ["effective_from"])
    for name, event in GUARDS:
        _create_guard(name, event)


def _create_guard(name: str, event: str) -> None:
    """Install a trigger that aborts every ``event`` on the table."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {name}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for name, _ in GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index(op.f("ix_price_list_version_effective_from"), table_name=TABLE)
    op.drop_table(TABLE)
