"""Submitted tickets checked against the catalogues and turned into ``NewTicket`` values."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import Request
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.config import Settings
from api.repositories.ticket_creation import NewCustomer, NewTicket
from api.repositories.ticket_terms import CardTerms, card_terms
from api.schemas.tickets import TicketCreate
from geo.coords import to_wgs84


def input_errors(
    session: Session, settings: Settings, tickets: Sequence[TicketCreate], *, prefix: str
) -> list[dict[str, Any]]:
    """Return ``{index, field, message}`` for every name no catalogue knows.

    Skills come from the settings; difficulty flags and material codes from the rate cards,
    which are read only when some ticket uses them. ``prefix`` is formatted with the index
    (``"tickets[{i}]."`` in a batch).
    """
    errors = _skill_errors(tickets, settings.skill_catalogue, prefix)
    if any(t.difficulty or t.materials for t in tickets):
        errors += _term_errors(tickets, card_terms(session, today=utc_now().date()), prefix)
    return errors


def _skill_errors(
    tickets: Sequence[TicketCreate], catalogue: list[str], prefix: str
) -> list[dict[str, Any]]:
    known = set(catalogue)
    return [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}skills.{name}",
            "message": f"unknown skill {name!r}; known: {', '.join(catalogue)}",
        }
        for i, ticket in enumerate(tickets)
        for name in ticket.skills
        if name not in known
    ]


def _term_errors(
    tickets: Sequence[TicketCreate], terms: CardTerms, prefix: str
) -> list[dict[str, Any]]:
    flags = ", ".join(sorted(terms.flags)) or "none"
    materials = ", ".join(sorted(terms.materials)) or "none"
    errors = [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}difficulty[{j}]",
            "message": f"unknown difficulty flag {flag!r}; the rate cards in force define: {flags}",
        }
        for i, ticket in enumerate(tickets)
        for j, flag in enumerate(ticket.difficulty)
        if flag not in terms.flags
    ]
    errors += [
        {
            "index": i,
            "field": f"{prefix.format(i=i)}materials[{j}].code",
            "message": f"unknown material {m.code!r}; the rate cards in force price: {materials}",
        }
        for i, ticket in enumerate(tickets)
        for j, m in enumerate(ticket.materials)
        if m.code not in terms.materials
    ]
    return errors


def new_tickets(
    request: Request, session: Session, tickets: Sequence[TicketCreate], source: str
) -> list[NewTicket]:
    """Convert positions to WGS84 (vectorised per datum) and locate their regions."""
    lons = np.array([t.location[0] for t in tickets])
    lats = np.array([t.location[1] for t in tickets])
    for crs in {t.crs for t in tickets} - {"wgs84"}:
        mask = np.array([t.crs == crs for t in tickets])
        lons[mask], lats[mask] = to_wgs84(lons[mask], lats[mask], crs)
    regions = request.app.state.region_cache.index(session).locate(lons, lats)
    return [
        NewTicket(
            source=source,
            external_id=t.external_id,
            type=t.type,
            lon=float(lon),
            lat=float(lat),
            region_id=region,
            address=t.address,
            duration_min=t.duration_min,
            skills=dict(t.skills),
            windows=list(t.time_windows),
            priority=t.priority,
            sla_due_at=t.sla_due_at,
            customer=None
            if t.customer is None
            else NewCustomer(t.customer.name, t.customer.phone, t.customer.email),
            notes=t.notes,
            demand=t.demand,
            units=t.units,
            difficulty=tuple(t.difficulty),
            materials=tuple((m.code, m.quantity) for m in t.materials),
        )
        for t, lon, lat, region in zip(tickets, lons, lats, regions, strict=True)
    ]
