"""Fixtures for rate cards, settlement and earnings: technicians and finished jobs."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import TechnicianRow
from api.tickets import repository as ticket_repo
from api.tickets.rules import Actor, NewTicket, TicketStatus
from tests.api.payouts.support import CENTURY_AVENUE, MONDAY_10H, NANJING_ROAD, TANGZHEN


@pytest.fixture
def technicians(session: Session) -> None:
    """T-A (home: Century Avenue) and T-B (home: Nanjing Road)."""
    for tech_id, (lon, lat) in (("T-A", CENTURY_AVENUE), ("T-B", NANJING_ROAD)):
        session.add(
            TechnicianRow(
                id=tech_id,
                name=f"Technician {tech_id}",
                home_base=to_wkb(Point(lon, lat)),
                skills={"appliance": 3},
                is_active=True,
                created_at=MONDAY_10H - timedelta(days=30),
                updated_at=MONDAY_10H - timedelta(days=30),
            )
        )
    session.flush()


@pytest.fixture
def finish_job(session: Session, technicians: None) -> Callable[..., int]:
    """Create a ticket and walk it to ``completed`` (or ``to``), arriving on site at ``on_site_at``.

    Returns the ticket id. Keyword arguments: ``technician``, ``place`` (lon, lat), ``type``,
    ``priority``, ``on_site_at``, ``to`` (completed or confirmed), ``created_at``, ``region_id``.
    """
    counter = iter(range(1, 10_000))

    def finish(
        *,
        technician: str = "T-A",
        place: tuple[float, float] = TANGZHEN,
        type: str = "repair",
        priority: str = "normal",
        on_site_at: datetime = MONDAY_10H,
        to: TicketStatus = TicketStatus.CONFIRMED,
        created_at: datetime | None = None,
        region_id: str | None = None,
    ) -> int:
        created = created_at or on_site_at - timedelta(days=1)
        (created_row,) = ticket_repo.create_tickets(
            session,
            tickets=[
                NewTicket(
                    source="shop-a",
                    external_id=f"job-{next(counter)}-{on_site_at.timestamp()}",
                    type=type,
                    lon=place[0],
                    lat=place[1],
                    region_id=region_id,
                    address="somewhere in Shanghai",
                    duration_min=60,
                    skills={},
                    windows=[],
                    priority=priority,
                )
            ],
            actor_key_id=None,
            now=created,
        )
        ticket_id = created_row.id
        ticket = ticket_repo.get_ticket(session, ticket_id=ticket_id)
        assert ticket is not None
        steps = [TicketStatus.SCHEDULED, TicketStatus.DISPATCHED, TicketStatus.EN_ROUTE]
        steps += [TicketStatus.ON_SITE, TicketStatus.COMPLETED]
        if to is TicketStatus.CONFIRMED:
            steps.append(TicketStatus.CONFIRMED)
        for offset, status in enumerate(steps, start=-3):
            ticket_repo.transition(
                session,
                ticket=ticket,
                target=status,
                actor=Actor.STAFF,
                actor_key_id=None,
                at=on_site_at + timedelta(minutes=20 * offset),
                technician_id=technician if status is TicketStatus.SCHEDULED else None,
            )
        return ticket_id

    return finish
