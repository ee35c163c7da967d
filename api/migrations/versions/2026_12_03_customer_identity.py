"""Customer identity: one customer per person within a source, identifiers, merge suggestions.

Customers gain a name key, their first known address and point, and ``merged_into_id``;
leads a ``customer_id``; new tables hold identifiers (unique per source, kind and value), merge
suggestions and merges.

Backfill: until now every ticket carried its own copy of its customer. The stored customers
are replayed, oldest first, through the same rules new submissions follow
(``api.customers.rules``): an exact identifier match is merged into the earlier customer, as a
merge by ``migration 0010`` that ``POST /v1/customers/merges/{id}/unmerge`` can undo; a probable
match becomes an open suggestion. Phones are stored in E.164 where they parse (one that does
not stays as it was and is no identifier). Then the leads that are not rejected join the
customers the same way (a converted lead joins its ticket's customer).

Revision ID: 0010_customer_identity
Revises: 0009_adjustment_requests
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from api.customers.rules import (
    Directory,
    InvalidIdentifier,
    Person,
    email_value,
    name_key,
    phone_value,
)

revision: str = "0010_customer_identity"
down_revision: str | None = "0009_adjustment_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MIGRATION = "migration 0010"
# ALTER TABLE ... ADD COLUMN with a named REFERENCES clause reads the same on both databases.
_LINKS = (
    ("customer", "merged_into_id", "fk_customer_merged_into_id_customer"),
    ("lead", "customer_id", "fk_lead_customer_id_customer"),
)


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[Any]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _fk(column: str, table: str, target: str = "customer") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    for name, kind in (("name_key", sa.String(200)), ("address", sa.String(500))):
        op.add_column("customer", sa.Column(name, kind, nullable=True))
    for name in ("lon", "lat"):
        op.add_column("customer", sa.Column(name, sa.Float(), nullable=True))
    for table, column, constraint in _LINKS:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} BIGINT "
            f"CONSTRAINT {constraint} REFERENCES customer (id)"
        )
    op.create_index("ix_customer_source_name_key", "customer", ["source", "name_key"])
    op.create_index("ix_customer_source_phone", "customer", ["source", "phone"])
    op.create_index("ix_ticket_customer_id", "ticket", ["customer_id"])
    op.create_index("ix_lead_customer_id", "lead", ["customer_id"])
    _create_tables()
    _backfill(op.get_bind())


def _create_tables() -> None:
    op.create_table(
        "customer_identifier",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("customer_id", BIG_ID, nullable=False),
        _at("created_at"),
        _fk("customer_id", "customer_identifier"),
        sa.PrimaryKeyConstraint("id", name="pk_customer_identifier"),
        sa.UniqueConstraint("source", "kind", "value", name="uq_customer_identifier_source_kind"),
    )
    op.create_index("ix_customer_identifier_customer_id", "customer_identifier", ["customer_id"])
    op.create_table(
        "customer_merge_suggestion",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("candidate_id", BIG_ID, nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _at("created_at"),
        _at("decided_at", nullable=True),
        sa.Column("decided_by_key_id", sa.String(32), nullable=True),
        _fk("customer_id", "customer_merge_suggestion"),
        _fk("candidate_id", "customer_merge_suggestion"),
        sa.CheckConstraint(
            "customer_id < candidate_id", name="ck_customer_merge_suggestion_ordered_pair"
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'refused', 'unmerged')",
            name="ck_customer_merge_suggestion_status",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_merge_suggestion"),
        sa.UniqueConstraint(
            "customer_id", "candidate_id", name="uq_customer_merge_suggestion_pair"
        ),
    )
    op.create_index(
        "ix_customer_merge_suggestion_source_status",
        "customer_merge_suggestion",
        ["source", "status", "id"],
    )
    op.create_index(
        "ix_customer_merge_suggestion_candidate_id",
        "customer_merge_suggestion",
        ["candidate_id"],
    )
    op.create_table(
        "customer_merge",
        _id(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("survivor_id", BIG_ID, nullable=False),
        sa.Column("merged_id", BIG_ID, nullable=False),
        sa.Column("suggestion_id", BIG_ID, nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        _at("merged_at"),
        sa.Column("merged_by", sa.String(64), nullable=False),
        _at("unmerged_at", nullable=True),
        sa.Column("unmerged_by", sa.String(64), nullable=True),
        _fk("survivor_id", "customer_merge"),
        _fk("merged_id", "customer_merge"),
        _fk("suggestion_id", "customer_merge", "customer_merge_suggestion"),
        sa.CheckConstraint("survivor_id <> merged_id", name="ck_customer_merge_not_itself"),
        sa.PrimaryKeyConstraint("id", name="pk_customer_merge"),
    )
    op.create_index("ix_customer_merge_survivor_id", "customer_merge", ["survivor_id"])
    op.create_index("ix_customer_merge_merged_id", "customer_merge", ["merged_id"])


# The backfill: plain SQL on both databases, one source at a time.
def _backfill(conn: sa.Connection) -> None:
    now = datetime.now(UTC)
    customers = conn.execute(
        sa.text(
            "SELECT c.id, c.source, c.name, c.phone, c.email, t.address, "
            "ST_X(t.location) AS lon, ST_Y(t.location) AS lat "
            "FROM customer c LEFT JOIN ticket t ON t.customer_id = c.id ORDER BY c.id"
        )
    ).all()
    directories: dict[str, Directory] = {}
    for row in customers:
        person = _person(row.name, row.phone, row.email, row.address, row.lon, row.lat)
        directory = directories.setdefault(row.source, Directory())
        decision = directory.decide(person)
        conn.execute(
            sa.text(
                "UPDATE customer SET phone = :phone, name_key = :name_key, address = :address, "
                "lon = :lon, lat = :lat WHERE id = :id"
            ),
            {"id": row.id, "phone": person.phone or row.phone, "name_key": name_key(row.name),
             "address": row.address, "lon": row.lon, "lat": row.lat},
        )  # fmt: skip
        if decision.customer_id is None:
            suggestions = directory.apply(person, decision, customer_id=row.id)
            _identify(conn, row.source, row.id, decision.new_identifiers, now)
        else:
            suggestions = directory.apply(person, decision, customer_id=decision.customer_id)
            _merge(conn, row.source, decision.customer_id, row.id, decision, now)
        _suggest(conn, row.source, suggestions, now)
    _link_leads(conn, directories, now)


def _person(
    name: str | None, phone: str | None, email: str | None, address: str | None,
    lon: float | None, lat: float | None,
) -> Person:  # fmt: skip
    def clean(value: str | None, check: Any) -> str | None:
        try:
            return check(value, field_name="phone") if value else None
        except InvalidIdentifier:
            return None

    return Person(name, clean(phone, phone_value), clean(email, email_value), address=address,
                  lon=lon, lat=lat)  # fmt: skip


def _identify(
    conn: sa.Connection, source: str, customer_id: int, identifiers: Any, now: datetime
) -> list[int]:
    ids = []
    for kind, value in identifiers:
        ids.append(
            conn.execute(
                sa.text(
                    "INSERT INTO customer_identifier (source, kind, value, customer_id, "
                    "created_at) VALUES (:source, :kind, :value, :customer_id, :now) RETURNING id"
                ),
                {"source": source, "kind": kind.value, "value": value,
                 "customer_id": customer_id, "now": now},
            ).scalar_one()
        )  # fmt: skip
    return ids


def _merge(
    conn: sa.Connection, source: str, survivor: int, merged: int, decision: Any, now: datetime
) -> None:
    """Record ``merged`` (a ticket's own copy) as merged into ``survivor``; move its tickets."""
    tickets = [
        int(i)
        for i in conn.execute(
            sa.text("SELECT id FROM ticket WHERE customer_id = :id"), {"id": merged}
        ).scalars()
    ]
    identifiers = _identify(conn, source, survivor, decision.new_identifiers, now)
    conn.execute(
        sa.text("UPDATE ticket SET customer_id = :survivor WHERE customer_id = :merged"),
        {"survivor": survivor, "merged": merged},
    )
    conn.execute(
        sa.text("UPDATE customer SET merged_into_id = :survivor WHERE id = :merged"),
        {"survivor": survivor, "merged": merged},
    )
    conn.execute(
        sa.table(
            "customer_merge",
            *(sa.column(n) for n in ("source", "survivor_id", "merged_id", "merged_at",
                                     "merged_by")),
            sa.column("evidence", sa.JSON()),
            sa.column("moved", sa.JSON()),
        ).insert(),
        {"source": source, "survivor_id": survivor, "merged_id": merged, "merged_at": now,
         "merged_by": MIGRATION, "evidence": [e.as_dict() for e in decision.evidence],
         "moved": {"tickets": tickets, "leads": [], "identifiers": identifiers}},
    )  # fmt: skip


def _suggest(conn: sa.Connection, source: str, suggestions: Any, now: datetime) -> None:
    table = sa.table(
        "customer_merge_suggestion",
        *(sa.column(n) for n in ("source", "customer_id", "candidate_id", "status",
                                 "created_at")),
        sa.column("evidence", sa.JSON()),
    )  # fmt: skip
    for s in suggestions:
        exists = conn.execute(
            sa.text(
                "SELECT 1 FROM customer_merge_suggestion WHERE customer_id = :a "
                "AND candidate_id = :b"
            ),
            {"a": s.first, "b": s.second},
        ).first()
        if exists is None:
            conn.execute(
                table.insert(),
                {"source": source, "customer_id": s.first, "candidate_id": s.second,
                 "status": "open", "created_at": now,
                 "evidence": [e.as_dict() for e in s.evidence]},
            )  # fmt: skip


def _link_leads(conn: sa.Connection, directories: dict[str, Directory], now: datetime) -> None:
    """Link every lead that is not rejected: a converted one to its ticket's customer."""
    leads = conn.execute(
        sa.text(
            "SELECT l.id, l.source, l.name, l.phone_e164, l.email, l.address, "
            "ST_X(l.location) AS lon, ST_Y(l.location) AS lat, t.customer_id AS known "
            "FROM lead l LEFT JOIN ticket t ON t.id = l.ticket_id "
            "WHERE l.status <> 'rejected' ORDER BY l.id"
        )
    ).all()
    for row in leads:
        directory = directories.setdefault(row.source, Directory())
        person = _person(row.name, row.phone_e164, row.email, row.address, row.lon, row.lat)
        if row.known is not None:
            person = replace(person, known_id=int(row.known))
        decision = directory.decide(person)
        customer_id = decision.customer_id
        if customer_id is None:
            customer_id = conn.execute(
                sa.text(
                    "INSERT INTO customer (source, name, phone, email, name_key, address, lon, "
                    "lat, created_at) VALUES (:source, :name, :phone, :email, :name_key, "
                    ":address, :lon, :lat, :now) RETURNING id"
                ),
                {"source": row.source, "name": row.name or row.phone_e164 or row.email or "",
                 "phone": person.phone, "email": person.email, "name_key": name_key(row.name),
                 "address": row.address, "lon": row.lon, "lat": row.lat, "now": now},
            ).scalar_one()  # fmt: skip
        _identify(conn, row.source, customer_id, decision.new_identifiers, now)
        suggestions = directory.apply(person, decision, customer_id=customer_id)
        _suggest(conn, row.source, suggestions, now)
        conn.execute(
            sa.text("UPDATE lead SET customer_id = :customer_id WHERE id = :id"),
            {"customer_id": customer_id, "id": row.id},
        )


def downgrade() -> None:
    for name in ("customer_merge", "customer_merge_suggestion", "customer_identifier"):
        op.drop_table(name)
    op.drop_index("ix_lead_customer_id", table_name="lead")
    op.drop_index("ix_ticket_customer_id", table_name="ticket")
    op.drop_index("ix_customer_source_phone", table_name="customer")
    op.drop_index("ix_customer_source_name_key", table_name="customer")
    if op.get_bind().dialect.name != "sqlite":
        for table, _column, constraint in _LINKS:
            op.drop_constraint(constraint, table)
    for table, column, _constraint in _LINKS:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    for name in ("lat", "lon", "address", "name_key"):
        op.execute(f"ALTER TABLE customer DROP COLUMN {name}")
