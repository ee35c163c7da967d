"""What the database knows about a finished job, as a ``settlement.CompletedOrder``.

Each helper states the rule it applies, since these rules decide how much a technician is paid.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from api.db.spatial import lonlat
from api.db.tables import TechnicianLocationRow, TechnicianRow, TicketRow, TicketStatusChangeRow
from api.tickets.repository import rating_of
from api.tickets.rules import TicketStatus
from geo.distance import haversine_m
from geo.heat import heat_by_region
from geo.regions import RegionIndex
from settlement import CompletedOrder, RateCard, demand_supply_ratio
from settlement.localtime import zone
from settlement.periods import order_key

#: Statuses of a job whose work is done: it counts for volume tiers and as a previous stop.
DONE = (TicketStatus.COMPLETED.value, TicketStatus.CONFIRMED.value, TicketStatus.SETTLED.value)
#: Ticket priorities that earn the urgency bonus.
URGENT_PRIORITIES = frozenset({"urgent", "emergency"})
_DEFAULT_ZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class JobFacts:
    """A ticket's service time and the order the rate card prices."""

    ticket_id: int
    technician_id: str
    service_at: datetime
    order: CompletedOrder

    def nth_in_period(self, session: Session, card: RateCard) -> int:
        """Rank the job among the technician's done jobs of the card's volume period.

        Periods are calendar day / ISO week / month in the card's time zone; jobs are ordered by
        service time, ties by ticket id (as the settlement package numbers them), so a job's
        rank does not depend on the order in which jobs are confirmed.
        """
        period = card.volume_period
        local_date = self.service_at.astimezone(zone(card.time_zone)).date()
        first, after = period_bounds(local_date, period or "day")
        start, end = (_local_midnight(d, card.time_zone) for d in (first, after))
        arrivals = _arrivals(session, technician_id=self.technician_id, start=start, end=end)
        me = order_key(self.service_at, str(self.ticket_id))
        return 1 + sum(1 for ticket_id, at in arrivals if order_key(at, str(ticket_id)) < me)


def service_at(session: Session, *, ticket: TicketRow) -> datetime:
    """Return when service started: the last arrival on site (else completion, else update)."""
    changes = session.execute(
        select(TicketStatusChangeRow.to_status, func.max(TicketStatusChangeRow.at))
        .where(
            TicketStatusChangeRow.ticket_id == ticket.id,
            TicketStatusChangeRow.to_status.in_(
                [TicketStatus.ON_SITE.value, TicketStatus.COMPLETED.value]
            ),
        )
        .group_by(TicketStatusChangeRow.to_status)
    ).all()
    at = dict(changes)
    found: datetime = at.get(TicketStatus.ON_SITE.value) or at.get(
        TicketStatus.COMPLETED.value, ticket.updated_at
    )
    return found


def job_facts(
    session: Session, *, ticket: TicketRow, regions: RegionIndex, surge_window: timedelta
) -> JobFacts:
    """Gather the order for ``ticket`` (which has a technician)."""
    assert ticket.technician_id is not None, "the caller checks the assignment"
    lon, lat = lonlat(ticket.location)
    started = service_at(session, ticket=ticket)
    region_id = regions.locate([lon], [lat])[0]
    time_zone = regions.get(region_id).time_zone if region_id is not None else _DEFAULT_ZONE
    origin_lon, origin_lat = _origin(session, ticket, started, time_zone)
    travel_m = round(float(haversine_m(origin_lon, origin_lat, lon, lat)))
    order = CompletedOrder(
        order_id=str(ticket.id),
        technician_id=ticket.technician_id,
        service_type=ticket.type,
        service_at=started,
        lon=lon,
        lat=lat,
        units=ticket.units,
        flags=frozenset(ticket.difficulty),
        is_urgent=ticket.priority in URGENT_PRIORITIES,
        rating=rating_of(session, ticket_id=ticket.id),
        travel_m=travel_m,
        origin_lon=origin_lon,
        origin_lat=origin_lat,
        demand_supply_ratio=_ratio(session, ticket, region_id, started, surge_window, regions),
        materials=tuple((m["code"], m["quantity"]) for m in ticket.materials),
    )
    return JobFacts(ticket.id, ticket.technician_id, started, order)


def _origin(
    session: Session, ticket: TicketRow, started: datetime, time_zone: str
) -> tuple[float, float]:
    """Where the trip began: the previous job of the same local day, else the home base."""
    assert ticket.technician_id is not None
    day_start = _local_midnight(started.astimezone(zone(time_zone)).date(), time_zone)
    earlier = [
        (at, ticket_id)
        for ticket_id, at in _arrivals(
            session, technician_id=ticket.technician_id, start=day_start, end=started
        )
        if ticket_id != ticket.id
    ]
    if earlier:
        previous = session.get(TicketRow, max(earlier)[1])
        assert previous is not None
        return lonlat(previous.location)
    technician = session.get(TechnicianRow, ticket.technician_id)
    assert technician is not None, "tickets reference technicians by foreign key"
    return lonlat(technician.home_base)


def _ratio(
    session: Session,
    ticket: TicketRow,
    region_id: str | None,
    started: datetime,
    window: timedelta,
    regions: RegionIndex,
) -> Decimal | None:
    """Demand/supply in the job's region over ``[started - window, started)``.

    Demand: tickets created in the region in the window. Supply: technicians whose last ping
    in the window lies in the region, plus this job's technician, who was there.
    """
    if region_id is None:
        return None
    start = started - window
    demand = session.scalars(
        select(TicketRow.region_id).where(
            TicketRow.region_id == region_id,
            TicketRow.created_at >= start,
            TicketRow.created_at < started,
        )
    ).all()
    positions = _last_pings(session, start=start, end=started)
    located = regions.locate([p[1] for p in positions], [p[2] for p in positions])
    supply = {tech: where for (tech, _, _), where in zip(positions, located, strict=True)}
    assert ticket.technician_id is not None
    supply[ticket.technician_id] = region_id
    heat = heat_by_region(demand, supply.values())
    return demand_supply_ratio(heat[region_id])


def _last_pings(
    session: Session, *, start: datetime, end: datetime
) -> list[tuple[str, float, float]]:
    latest = (
        select(
            TechnicianLocationRow.technician_id,
            func.max(TechnicianLocationRow.recorded_at).label("recorded_at"),
        )
        .where(TechnicianLocationRow.recorded_at >= start, TechnicianLocationRow.recorded_at < end)
        .group_by(TechnicianLocationRow.technician_id)
        .subquery()
    )
    rows = session.execute(
        select(TechnicianLocationRow.technician_id, TechnicianLocationRow.location).join(
            latest,
            (latest.c.technician_id == TechnicianLocationRow.technician_id)
            & (latest.c.recorded_at == TechnicianLocationRow.recorded_at),
        )
    ).all()
    return [(tech, *lonlat(location)) for tech, location in rows]


def _arrivals(
    session: Session, *, technician_id: str, start: datetime, end: datetime
) -> Sequence[tuple[int, datetime]]:
    """Return (ticket id, service time) of the technician's done jobs served in [start, end)."""
    arrived = _arrival_times()
    return [
        (ticket_id, at)
        for ticket_id, at in session.execute(
            select(TicketRow.id, arrived.c.at)
            .join(arrived, arrived.c.ticket_id == TicketRow.id)
            .where(
                TicketRow.technician_id == technician_id,
                TicketRow.status.in_(DONE),
                arrived.c.at >= start,
                arrived.c.at < end,
            )
        ).all()
    ]


def _arrival_times() -> Subquery:
    return (
        select(
            TicketStatusChangeRow.ticket_id,
            func.max(TicketStatusChangeRow.at).label("at"),
        )
        .where(TicketStatusChangeRow.to_status == TicketStatus.ON_SITE.value)
        .group_by(TicketStatusChangeRow.ticket_id)
    ).subquery()


def period_bounds(local_date: date, period: str) -> tuple[date, date]:
    """Return the first day of the period containing ``local_date`` and the day after it."""
    if period == "day":
        return local_date, local_date + timedelta(days=1)
    if period == "week":
        monday = local_date - timedelta(days=local_date.weekday())
        return monday, monday + timedelta(days=7)
    first = local_date.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def _local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone(time_zone))
