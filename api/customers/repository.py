"""Customers in the database: candidates for matching, identity writes, merges, the 360 reads.

Functions take a session and keyword arguments, may flush, and never commit.
"""

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Executable,
    Float,
    Insert,
    Select,
    String,
    and_,
    any_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.customers.rules import NEARBY_M, Known, Person, Suggestion, name_key
from api.db.tables import (
    CustomerIdentifierRow,
    CustomerMergeRow,
    CustomerRow,
    LeadRow,
    LeadTouchRow,
    MergeSuggestionRow,
    SettlementRow,
    TicketRow,
    TicketSignatureRow,
    TicketStatusChangeRow,
)
from api.tickets.repository import allocate_ids

M_PER_DEGREE = 111_195.0  # of latitude, and of longitude at the equator
# People per query: values bound one by one, a few per person (500 stay far below SQLite's
# limit), or on PostgreSQL each list as one array. A ticket's look-up binds one by one: that
# statement was measured the faster for a few people (the plan is made for their values).
_PEOPLE_PER_QUERY = {"arrays": 5_000, "one_by_one": 500}
_ARRAYS_FROM = 50  # people: on PostgreSQL, a chunk this large goes in arrays
_IDS_PER_QUERY = 500  # bound one by one: far below SQLite's limit


# Matching: the stored customers a submission could match, and the rows identity writes.
def candidates(session: Session, *, source: str, people: Sequence[Person]) -> list[Known]:
    """Return the live customers of ``source`` that share an identifier, phone or name key.

    One query per chunk of people: the customers with their identifiers joined.
    """
    is_postgres = session.get_bind().dialect.name == "postgresql"
    in_arrays = is_postgres and len(people) >= _ARRAYS_FROM
    per_query = _PEOPLE_PER_QUERY["arrays" if in_arrays else "one_by_one"]
    found: dict[int, Known] = {}
    for first in range(0, len(people), per_query):
        lookup = _Lookup.of(source, people[first : first + per_query])
        if lookup is None:
            continue
        statement, params = lookup.in_arrays() if in_arrays else lookup.one_by_one()
        for row in session.execute(statement, params):
            known = found.setdefault(
                row.id, Known(row.id, row.name_key, row.phone, row.lon, row.lat)
            )
            if row.kind is not None:
                known.identifiers.add((row.kind, row.value))
    return [found[i] for i in sorted(found)]


Box = tuple[str, float, float, float, float]  # name key, west, east, south, north


@dataclass(frozen=True, slots=True)
class _Lookup:
    """What a chunk of people is looked up by: identifiers, phones, name boxes, known ids.

    Every ticket runs this lookup, so its statements are built once and reused: building and
    keying a fresh SQLAlchemy statement cost more CPU than the database spent answering it.
    """

    source: str
    pairs: list[tuple[str, str]]
    phones: list[str]
    boxes: list[Box]
    known: list[int]

    @classmethod
    def of(cls, source: str, people: Sequence[Person]) -> "_Lookup | None":
        pairs = sorted({(k.value, v) for p in people for k, v in p.identifiers()})
        phones = sorted({p.phone for p in people if p.phone})
        boxes = [_box(p) for p in people if p.lon is not None and p.lat is not None]
        boxes = [box for box in boxes if box[0]]
        known = sorted({p.known_id for p in people if p.known_id is not None})
        if not (pairs or phones or boxes or known):
            return None
        return cls(source, pairs, phones, boxes, known)

    def in_arrays(self) -> tuple[Executable, dict[str, Any]]:
        """Bind each list as one array, in one statement for any chunk (PostgreSQL)."""
        names, wests, easts, souths, norths = ([box[i] for box in self.boxes] for i in range(5))
        params = {
            "source": self.source, "kinds": [k for k, _ in self.pairs],
            "values": [v for _, v in self.pairs], "phones": self.phones, "names": names,
            "wests": wests, "easts": easts, "souths": souths, "norths": norths,
            "known": self.known,
        }  # fmt: skip
        return _arrays_query(), params

    def one_by_one(self) -> tuple[Executable, dict[str, Any]]:
        """Bind each value alone, in a statement per shape (which lookups, how many boxes)."""
        params: dict[str, Any] = {"source": self.source, "pairs": self.pairs}
        params |= {"phones": self.phones, "known": self.known}
        for i, (name, west, east, south, north) in enumerate(self.boxes):
            params |= {f"name_{i}": name, f"west_{i}": west, f"east_{i}": east}
            params |= {f"south_{i}": south, f"north_{i}": north}
        shape = (bool(self.pairs), bool(self.phones), len(self.boxes), bool(self.known))
        return _shaped_query(*shape), params


def _box(person: Person) -> Box:
    """Return the person's name key and a box around their point, wider than ``NEARBY_M``.

    The rules measure the distance.
    """
    assert person.lon is not None and person.lat is not None
    half_lat = 2 * NEARBY_M / M_PER_DEGREE
    half_lon = half_lat / max(math.cos(math.radians(person.lat)), 0.01)
    return (
        name_key(person.name) or "",
        person.lon - half_lon,
        person.lon + half_lon,
        person.lat - half_lat,
        person.lat + half_lat,
    )


# Each lookup below uses its own index (identifier, phone, name key), and a union joins them.
# One ``OR`` of the same conditions would not: PostgreSQL cannot use an index for an ``IN``
# subquery inside an ``OR``, and scanned every customer of the source for each submission.
@functools.cache
def _arrays_query() -> Executable:
    """Return the customers (with identifiers) the arrays of a chunk find (PostgreSQL)."""
    source = bindparam("source", type_=String())

    def array(name: str, item: Any) -> Any:
        return bindparam(name, type_=postgresql.ARRAY(item))

    pairs = (
        func.unnest(array("kinds", String()), array("values", String()))
        .table_valued("kind", "value")
        .render_derived(name="pairs")
    )
    bounds = (array(name, Float()) for name in ("wests", "easts", "souths", "norths"))
    boxes = (
        func.unnest(array("names", String()), *bounds)
        .table_valued("name", "west", "east", "south", "north")
        .render_derived(name="boxes")
    )
    identifier = CustomerIdentifierRow
    by_identifier = (
        select(identifier.customer_id)
        .join(pairs, and_(identifier.kind == pairs.c.kind, identifier.value == pairs.c.value))
        .where(identifier.source == source)
    )
    by_phone = select(CustomerRow.id).where(
        CustomerRow.source == source, CustomerRow.phone == any_(array("phones", String()))
    )
    near = and_(
        CustomerRow.name_key == boxes.c.name,
        CustomerRow.lon.between(boxes.c.west, boxes.c.east),
        CustomerRow.lat.between(boxes.c.south, boxes.c.north),
    )
    by_name = select(CustomerRow.id).join(boxes, near).where(CustomerRow.source == source)
    by_known = select(CustomerRow.id).where(CustomerRow.id == any_(array("known", BigInteger())))
    lookups = union(by_identifier, by_phone, by_name, by_known).subquery()
    return _with_identifiers(select(lookups.c[0]), source)


@functools.lru_cache(maxsize=64)
def _shaped_query(identifiers: bool, phones: bool, boxes: int, known: bool) -> Executable:
    """Return the customers (with identifiers) found by a union of the lookups asked for."""
    source = bindparam("source", type_=String())
    lookups: list[Select[Any]] = []
    if identifiers:
        pair = tuple_(CustomerIdentifierRow.kind, CustomerIdentifierRow.value)
        lookups.append(
            select(CustomerIdentifierRow.customer_id).where(
                CustomerIdentifierRow.source == source,
                pair.in_(bindparam("pairs", expanding=True)),
            )
        )
    if phones:
        by_phone = CustomerRow.phone.in_(bindparam("phones", expanding=True))
        lookups.append(select(CustomerRow.id).where(CustomerRow.source == source, by_phone))
    if boxes:
        near = [
            and_(
                CustomerRow.name_key == bindparam(f"name_{i}"),
                CustomerRow.lon.between(bindparam(f"west_{i}"), bindparam(f"east_{i}")),
                CustomerRow.lat.between(bindparam(f"south_{i}"), bindparam(f"north_{i}")),
            )
            for i in range(boxes)
        ]
        lookups.append(select(CustomerRow.id).where(CustomerRow.source == source, or_(*near)))
    if known:
        lookups.append(
            select(CustomerRow.id).where(CustomerRow.id.in_(bindparam("known", expanding=True)))
        )
    matching = lookups[0] if len(lookups) == 1 else select(union(*lookups).subquery().c[0])
    return _with_identifiers(matching, source)


def _with_identifiers(matching: Select[Any], source: Any) -> Executable:
    """Return the live customers of ``source`` among ``matching``, their identifiers joined."""
    return (
        select(
            CustomerRow.id,
            CustomerRow.name_key,
            CustomerRow.phone,
            CustomerRow.lon,
            CustomerRow.lat,
            CustomerIdentifierRow.kind,
            CustomerIdentifierRow.value,
        )
        .outerjoin(CustomerIdentifierRow, CustomerIdentifierRow.customer_id == CustomerRow.id)
        .where(
            CustomerRow.id.in_(matching),
            CustomerRow.source == source,
            CustomerRow.merged_into_id.is_(None),
        )
        .order_by(CustomerRow.id)
    )


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer about to be stored, with the identifiers it is created with."""

    person: Person
    identifiers: tuple[tuple[str, str], ...]


def insert_customers(
    session: Session, *, source: str, customers: Sequence[NewCustomer], now: datetime
) -> list[int]:
    """Insert customers and their identifiers; return the new ids in order.

    Raises ``IntegrityError`` when a concurrent transaction took one of the identifiers.
    """
    ids = allocate_ids(session, table="customer", n=len(customers))
    if not ids:
        return ids
    session.execute(
        insert(CustomerRow),
        [
            {"id": id_, **customer_values(source=source, person=c.person, now=now)}
            for id_, c in zip(ids, customers, strict=True)
        ],
    )
    add_identifiers(
        session,
        source=source,
        rows=[(id_, kind, value) for id_, c in zip(ids, customers, strict=True)
              for kind, value in c.identifiers],
        now=now,
    )  # fmt: skip
    return ids


def customer_values(*, source: str, person: Person, now: datetime) -> dict[str, Any]:
    """Return the row of a new customer of ``source`` (all but its id)."""
    return {
        "source": source, "name": _display_name(person), "phone": person.phone,
        "email": person.email, "name_key": name_key(person.name), "address": person.address,
        "lon": person.lon, "lat": person.lat, "created_at": now,
    }  # fmt: skip


def _display_name(person: Person) -> str:
    return (person.name or "").strip() or person.phone or person.email or "—"


def add_identifiers(
    session: Session, *, source: str, rows: Sequence[tuple[int, str, str]], now: datetime
) -> None:
    """Insert ``(customer_id, kind, value)`` identifiers (``IntegrityError`` if one is taken)."""
    if rows:
        session.execute(
            insert(CustomerIdentifierRow),
            [{"source": source, "customer_id": c, "kind": k, "value": v, "created_at": now}
             for c, k, v in rows],
        )  # fmt: skip


def add_suggestions(
    session: Session, *, source: str, suggestions: Iterable[Suggestion], now: datetime
) -> None:
    """Store suggestions of pairs not suggested before (a refused pair is not offered again)."""
    rows = {
        (s.first, s.second): {
            "source": source,
            "customer_id": s.first,
            "candidate_id": s.second,
            "evidence": [e.as_dict() for e in s.evidence],
            "status": "open",
            "created_at": now,
        }
        for s in suggestions
    }
    if rows:
        statement = _insert_ignoring_pairs(session)
        session.execute(statement, list(rows.values()))


def _insert_ignoring_pairs(session: Session) -> Insert:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = MergeSuggestionRow.__table__
    return dialect.insert(table).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=["customer_id", "candidate_id"]
    )


def link_leads(session: Session, *, links: Sequence[tuple[int, int]]) -> None:
    """Point leads at their customers: ``(lead_id, customer_id)`` pairs."""
    for lead_id, customer_id in links:
        session.execute(
            update(LeadRow).where(LeadRow.id == lead_id).values(customer_id=customer_id)
        )


# Reading customers.
def get(session: Session, *, customer_id: int, for_update: bool = False) -> CustomerRow | None:
    """Return one customer (merged or not), optionally locked (PostgreSQL)."""
    query = select(CustomerRow).where(CustomerRow.id == customer_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    """What a customer listing is restricted to; ``None`` means no restriction."""

    source: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # case-folded
    name: str | None = None  # a name key, matched as a prefix


def listing(
    session: Session, *, where: CustomerFilter, after_id: int | None, limit: int
) -> list[CustomerRow]:
    """Return up to ``limit`` live customers matching ``where`` with ids above ``after_id``."""
    query = select(CustomerRow).where(CustomerRow.merged_into_id.is_(None))
    if where.source is not None:
        query = query.where(CustomerRow.source == where.source)
    if where.name is not None:
        query = query.where(CustomerRow.name_key.startswith(where.name, autoescape=True))
    for kind, value in (("phone", where.phone), ("email", where.email)):
        if value is not None:
            query = query.where(
                CustomerRow.id.in_(
                    select(CustomerIdentifierRow.customer_id).where(
                        CustomerIdentifierRow.kind == kind, CustomerIdentifierRow.value == value
                    )
                )
                | (CustomerRow.phone == value if kind == "phone" else false())
            )
    if after_id is not None:
        query = query.where(CustomerRow.id > after_id)
    return list(session.scalars(query.order_by(CustomerRow.id).limit(limit)))


def identifiers(session: Session, *, customer_ids: Sequence[int]) -> list[CustomerIdentifierRow]:
    """Return the identifiers of the given customers, oldest first."""
    query = (
        select(CustomerIdentifierRow)
        .where(CustomerIdentifierRow.customer_id.in_(customer_ids))
        .order_by(CustomerIdentifierRow.id)
    )
    return list(session.scalars(query))


def leads_of(session: Session, *, customer_id: int) -> list[LeadRow]:
    """Return the customer's leads, oldest first."""
    query = select(LeadRow).where(LeadRow.customer_id == customer_id).order_by(LeadRow.id)
    return list(session.scalars(query))


def touches_of(session: Session, *, lead_ids: Sequence[int]) -> list[LeadTouchRow]:
    """Return the touches of the given leads."""
    if not lead_ids:
        return []
    query = select(LeadTouchRow).where(LeadTouchRow.lead_id.in_(lead_ids))
    return list(session.scalars(query.order_by(LeadTouchRow.at, LeadTouchRow.id)))


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """A customer's ticket with what the 360 shows beside it."""

    ticket: TicketRow
    rating: int | None
    pay_fen: int | None
    pay_currency: str | None


def tickets_of(session: Session, *, customer_id: int) -> list[TicketFacts]:
    """Return the customer's tickets, oldest first, with rating and the latest settlement."""
    query = (
        select(TicketRow, TicketSignatureRow.rating)
        .outerjoin(TicketSignatureRow, TicketSignatureRow.ticket_id == TicketRow.id)
        .where(TicketRow.customer_id == customer_id)
        .order_by(TicketRow.id)
    )
    rows = list(session.execute(query))
    pay: dict[int, tuple[int, str]] = {}
    ids = [row[0].id for row in rows]
    for first in range(0, len(ids), _IDS_PER_QUERY):
        settled = (
            select(SettlementRow.ticket_id, SettlementRow.total_fen, SettlementRow.currency)
            .where(SettlementRow.ticket_id.in_(ids[first : first + _IDS_PER_QUERY]))
            .order_by(SettlementRow.id)
        )
        pay.update({t: (fen, currency) for t, fen, currency in session.execute(settled)})
    return [
        TicketFacts(ticket, rating, *pay.get(ticket.id, (None, None))) for ticket, rating in rows
    ]


def status_changes(session: Session, *, ticket_ids: Sequence[int]) -> list[TicketStatusChangeRow]:
    """Return the status changes of the given tickets."""
    if not ticket_ids:
        return []
    query = select(TicketStatusChangeRow).where(TicketStatusChangeRow.ticket_id.in_(ticket_ids))
    return list(session.scalars(query.order_by(TicketStatusChangeRow.id)))


def merges_of(session: Session, *, customer_id: int) -> list[CustomerMergeRow]:
    """Return the merges the customer took part in, survivor or merged, oldest first."""
    query = select(CustomerMergeRow).where(
        or_(CustomerMergeRow.survivor_id == customer_id, CustomerMergeRow.merged_id == customer_id)
    )
    return list(session.scalars(query.order_by(CustomerMergeRow.id)))


# Suggestions and merges.
def suggestions(
    session: Session, *, source: str | None, status: str | None, after_id: int | None, limit: int
) -> list[MergeSuggestionRow]:
    """Return suggestions in id order, optionally of one source and status."""
    query = select(MergeSuggestionRow)
    if source is not None:
        query = query.where(MergeSuggestionRow.source == source)
    if status is not None:
        query = query.where(MergeSuggestionRow.status == status)
    if after_id is not None:
        query = query.where(MergeSuggestionRow.id > after_id)
    return list(session.scalars(query.order_by(MergeSuggestionRow.id).limit(limit)))


def get_suggestion(
    session: Session, *, suggestion_id: int, for_update: bool = False
) -> MergeSuggestionRow | None:
    """Return one suggestion, optionally locked (PostgreSQL)."""
    query = select(MergeSuggestionRow).where(MergeSuggestionRow.id == suggestion_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def open_suggestion_of(session: Session, *, first: int, second: int) -> MergeSuggestionRow | None:
    """Return the suggestion of the pair, whatever its status."""
    low, high = min(first, second), max(first, second)
    query = select(MergeSuggestionRow).where(
        MergeSuggestionRow.customer_id == low, MergeSuggestionRow.candidate_id == high
    )
    return session.scalar(query)


def merge(
    session: Session,
    *,
    survivor: CustomerRow,
    merged: CustomerRow,
    suggestion_id: int | None,
    evidence: list[dict[str, Any]],
    actor: str,
    now: datetime,
) -> CustomerMergeRow:
    """Re-point the merged customer's tickets, leads and identifiers to the survivor."""
    moved: dict[str, list[int]] = {}
    for name, table in (
        ("tickets", TicketRow), ("leads", LeadRow), ("identifiers", CustomerIdentifierRow),
    ):  # fmt: skip
        ids = list(session.scalars(select(table.id).where(table.customer_id == merged.id)))
        if ids:
            session.execute(update(table).where(table.id.in_(ids)).values(customer_id=survivor.id))
        moved[name] = sorted(ids)
    merged.merged_into_id = survivor.id
    row = CustomerMergeRow(
        source=survivor.source, survivor_id=survivor.id, merged_id=merged.id,
        suggestion_id=suggestion_id, evidence=evidence, moved=moved, merged_at=now,
        merged_by=actor,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def get_merge(
    session: Session, *, merge_id: int, for_update: bool = False
) -> CustomerMergeRow | None:
    """Return one merge, optionally locked (PostgreSQL)."""
    query = select(CustomerMergeRow).where(CustomerMergeRow.id == merge_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def unmerge(session: Session, *, merge: CustomerMergeRow, actor: str, now: datetime) -> None:
    """Put back what ``merge`` moved, revive the merged customer, stamp the merge undone."""
    for name, table in (
        ("tickets", TicketRow), ("leads", LeadRow), ("identifiers", CustomerIdentifierRow),
    ):  # fmt: skip
        ids = merge.moved.get(name, [])
        if ids:
            session.execute(
                update(table)
                .where(table.id.in_(ids), table.customer_id == merge.survivor_id)
                .values(customer_id=merge.merged_id)
            )
    session.execute(
        update(CustomerRow).where(CustomerRow.id == merge.merged_id).values(merged_into_id=None)
    )
    merge.unmerged_at, merge.unmerged_by = now, actor
    if merge.suggestion_id is not None:
        session.execute(
            update(MergeSuggestionRow)
            .where(MergeSuggestionRow.id == merge.suggestion_id)
            .values(status="unmerged")
        )
    session.flush()
