"""Settlements in the database: ``settlement.PayoutBreakdown`` values in and out.

A row is written once per (ticket, rate-card version) and never updated; the lines are stored
with decimals as strings and amounts in integer fen, so a breakdown reads back exactly.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.tables import RateCardVersionRow, SettlementRow
from settlement import CompletedOrder, LineItem, Money, PayoutBreakdown


def insert(
    session: Session,
    *,
    ticket_id: int,
    order: CompletedOrder,
    breakdown: PayoutBreakdown,
    card_row: RateCardVersionRow,
    service_at: datetime,
    now: datetime,
) -> SettlementRow:
    """Store the breakdown of ``ticket_id`` priced under ``card_row``."""
    row = SettlementRow(
        ticket_id=ticket_id,
        technician_id=breakdown.technician_id,
        rate_card_version_id=card_row.id,
        rate_card_version=breakdown.rate_card_version,
        service_type=breakdown.service_type,
        region_id=breakdown.region_id,
        service_at=service_at,
        service_date=breakdown.service_date,
        nth_in_period=breakdown.nth_in_period,
        total_fen=breakdown.total.to_fen(),
        currency=breakdown.currency,
        lines=[_line_json(line) for line in breakdown.lines],
        inputs=_inputs_json(order),
        settled_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _line_json(line: LineItem) -> dict[str, Any]:
    return {
        "code": line.code,
        "label_zh": line.label_zh,
        "label_en": line.label_en,
        "basis": str(line.basis),
        "rate": str(line.rate),
        "amount_fen": line.amount.to_fen(),
        "rule_id": line.rule_id,
    }


def _inputs_json(order: CompletedOrder) -> dict[str, Any]:
    ratio = order.demand_supply_ratio
    return {
        "lon": order.lon,
        "lat": order.lat,
        "units": order.units,
        "flags": sorted(order.flags),
        "is_urgent": order.is_urgent,
        "rating": order.rating,
        "travel_m": order.travel_m,
        "origin_lon": order.origin_lon,
        "origin_lat": order.origin_lat,
        "demand_supply_ratio": None if ratio is None else str(ratio),
        "materials": [list(pair) for pair in order.materials],
    }


def order_of(row: SettlementRow) -> CompletedOrder:
    """Rebuild the order a settlement priced, to price it again under another card."""
    inputs = row.inputs
    ratio = inputs["demand_supply_ratio"]
    return CompletedOrder(
        order_id=str(row.ticket_id),
        technician_id=row.technician_id,
        service_type=row.service_type,
        service_at=row.service_at,
        lon=inputs["lon"],
        lat=inputs["lat"],
        units=inputs["units"],
        flags=frozenset(inputs["flags"]),
        is_urgent=inputs["is_urgent"],
        rating=inputs["rating"],
        travel_m=inputs["travel_m"],
        origin_lon=inputs["origin_lon"],
        origin_lat=inputs["origin_lat"],
        demand_supply_ratio=None if ratio is None else Decimal(ratio),
        materials=tuple((code, quantity) for code, quantity in inputs["materials"]),
    )


def breakdown_of(row: SettlementRow) -> PayoutBreakdown:
    """Rebuild the breakdown a settlement row stores (exactly as it was priced)."""
    return PayoutBreakdown(
        order_id=str(row.ticket_id),
        technician_id=row.technician_id,
        service_type=row.service_type,
        region_id=row.region_id,
        service_date=row.service_date,
        nth_in_period=row.nth_in_period,
        rate_card_version=row.rate_card_version,
        currency=row.currency,
        lines=tuple(
            LineItem(
                code=line["code"],
                label_zh=line["label_zh"],
                label_en=line["label_en"],
                basis=Decimal(line["basis"]),
                rate=Decimal(line["rate"]),
                amount=Money.from_fen(line["amount_fen"], row.currency),
                rule_id=line["rule_id"],
                rate_card_version=row.rate_card_version,
            )
            for line in row.lines
        ),
    )


def latest_for_ticket(session: Session, *, ticket_id: int) -> SettlementRow | None:
    """Return the ticket's most recent settlement (the one a correction made, if any)."""
    return session.scalar(
        select(SettlementRow)
        .where(SettlementRow.ticket_id == ticket_id)
        .order_by(SettlementRow.id.desc())
        .limit(1)
    )


def for_ticket_and_version(
    session: Session, *, ticket_id: int, card_row_id: int
) -> SettlementRow | None:
    """Return the ticket's settlement under one rate-card version, if any."""
    return session.scalar(
        select(SettlementRow).where(
            SettlementRow.ticket_id == ticket_id,
            SettlementRow.rate_card_version_id == card_row_id,
        )
    )


def for_technician(
    session: Session,
    *,
    technician_id: str,
    first: date | None = None,
    last: date | None = None,
    active_ids: set[int] | None = None,
) -> list[SettlementRow]:
    """List the technician's settlements by service date in ``[first, last]``, oldest first.

    ``active_ids`` keeps only those settlements (the ones whose earning is not reversed).
    """
    query = select(SettlementRow).where(SettlementRow.technician_id == technician_id)
    if first is not None:
        query = query.where(SettlementRow.service_date >= first)
    if last is not None:
        query = query.where(SettlementRow.service_date <= last)
    if active_ids is not None:
        query = query.where(SettlementRow.id.in_(active_ids))
    return list(session.scalars(query.order_by(SettlementRow.service_at, SettlementRow.ticket_id)))


def standing(
    session: Session,
    *,
    first: date,
    last: date,
    region_id: str | None = None,
    technician_id: str | None = None,
    limit: int,
) -> list[SettlementRow]:
    """List the settlements that stand (latest per ticket) by service date in [first, last].

    Only the first ``limit`` + 1 are returned, so that the caller can tell "too many".
    """
    latest = select(func.max(SettlementRow.id)).group_by(SettlementRow.ticket_id).scalar_subquery()
    query = select(SettlementRow).where(
        SettlementRow.id.in_(latest),
        SettlementRow.service_date >= first,
        SettlementRow.service_date <= last,
    )
    if region_id is not None:
        query = query.where(SettlementRow.region_id == region_id)
    if technician_id is not None:
        query = query.where(SettlementRow.technician_id == technician_id)
    return list(session.scalars(query.order_by(SettlementRow.id).limit(limit + 1)))
