"""Devices in SQL: the rules file, devices, their events and incidents."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import (
    CustomerRow,
    DeviceEventRow,
    DeviceIncidentRow,
    DeviceRow,
    TicketRow,
    TicketStatusChangeRow,
)
from api.db.tables.tickets import UtcDateTime
from api.devices.rules import Event, EventKind, InvalidDeviceRules, parse_rules
from api.watched_files import RulesFileError, Watched, read_toml

#: Ticket statuses after which a device's fault is dealt with: its incident closes.
FINISHED = ("completed", "confirmed", "settled", "cancelled")


class DeviceRulesFileError(RulesFileError):
    """A device rules file that does not parse or validate; the message names the file."""


#: The device rules of a file, read again when it changes (a broken edit keeps the last good).
rules = Watched(
    partial(read_toml, parse=parse_rules, invalid=InvalidDeviceRules, error=DeviceRulesFileError),
    what="device rules",
)


# Devices.
@dataclass(frozen=True, slots=True)
class NewDevice:
    """A validated device, located in WGS84."""

    source: str
    external_id: str
    customer_id: int
    model: str
    lon: float
    lat: float
    address: str
    warranty_until: date | None


def insert_device(
    session: Session, *, device: NewDevice, actor_key_id: str | None, now: datetime
) -> DeviceRow:
    """Store a device; flush, do not commit. ``IntegrityError``: its external id is taken."""
    row = DeviceRow(
        source=device.source,
        external_id=device.external_id,
        customer_id=device.customer_id,
        model=device.model,
        location=to_wkb(Point(device.lon, device.lat)),
        address=device.address,
        warranty_until=device.warranty_until,
        created_by_key_id=actor_key_id,
        created_at=now,
    )
    with session.begin_nested():
        session.add(row)
        session.flush()
    return row


def get_device(session: Session, *, device_id: int) -> DeviceRow | None:
    return session.get(DeviceRow, device_id)


def device_id_of(session: Session, *, source: str, external_id: str) -> int | None:
    """Return the id of the source's device ``external_id``, if it has one."""
    return session.scalar(
        select(DeviceRow.id).where(DeviceRow.source == source, DeviceRow.external_id == external_id)
    )


def live_customer(session: Session, *, customer_id: int) -> CustomerRow | None:
    """Return the customer, or the one it was merged into (a device follows its customer)."""
    seen: set[int] = set()
    row = session.get(CustomerRow, customer_id)
    while row is not None and row.merged_into_id is not None and row.id not in seen:
        seen.add(row.id)
        row = session.get(CustomerRow, row.merged_into_id)
    return row


# Events.
def insert_events(
    session: Session, *, device_id: int, events: Sequence[Event], now: datetime
) -> list[int]:
    """Store a device's events as posted; return their ids in order."""
    rows = [
        {"device_id": device_id, "kind": e.kind, "fault_code": e.fault_code, "metric": e.metric,
         "value": e.value, "occurred_at": e.occurred_at, "received_at": now}
        for e in events
    ]  # fmt: skip
    statement = insert(DeviceEventRow).returning(DeviceEventRow.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def events_between(
    session: Session, *, device_id: int, since: datetime, until: datetime
) -> list[Event]:
    """Return the device's stored events that occurred in [since, until], oldest first."""
    rows = session.execute(
        select(DeviceEventRow.kind, DeviceEventRow.occurred_at, DeviceEventRow.metric,
               DeviceEventRow.value, DeviceEventRow.fault_code)
        .where(DeviceEventRow.device_id == device_id, DeviceEventRow.occurred_at >= since,
               DeviceEventRow.occurred_at <= until)
        .order_by(DeviceEventRow.occurred_at, DeviceEventRow.id)
    )  # fmt: skip
    # The table's check constraint holds ``kind`` to the two kinds.
    return [
        Event(cast("EventKind", kind), at, metric, value, code)
        for kind, at, metric, value, code in rows
    ]


# Incidents.
def close_finished(session: Session, *, device_id: int, now: datetime) -> None:
    """Close the device's open incidents whose ticket is done or cancelled, as of when it was."""
    finished = select(TicketRow.id).where(TicketRow.status.in_(FINISHED))
    finished_at = (
        select(func.max(TicketStatusChangeRow.at))
        .where(TicketStatusChangeRow.ticket_id == DeviceIncidentRow.ticket_id,
               TicketStatusChangeRow.to_status.in_(FINISHED))
        .scalar_subquery()
    )  # fmt: skip
    session.execute(
        update(DeviceIncidentRow)
        .where(DeviceIncidentRow.device_id == device_id, DeviceIncidentRow.status == "open",
               DeviceIncidentRow.ticket_id.in_(finished))
        .values(status="closed", closed_at=func.coalesce(finished_at, literal(now, UtcDateTime())))
        .execution_options(synchronize_session=False)
    )  # fmt: skip


def open_incident_id(session: Session, *, device_id: int, fault_key: str) -> int | None:
    """Return the id of the device's open incident of ``fault_key``, if there is one."""
    return session.scalar(
        select(DeviceIncidentRow.id).where(
            DeviceIncidentRow.device_id == device_id,
            DeviceIncidentRow.fault_key == fault_key,
            DeviceIncidentRow.status == "open",
        )
    )


def claim_incident(session: Session, *, values: dict[str, Any]) -> int | None:
    """Open an incident (``values``: its columns); None if the fault already has an open one.

    The partial unique index decides: on PostgreSQL a concurrent transaction opening the same
    fault makes this insert wait for it, then fail once it commits. Only the savepoint is lost.
    """
    try:
        with session.begin_nested():
            incident_id: int = session.execute(
                insert(DeviceIncidentRow).values(**values).returning(DeviceIncidentRow.id)
            ).scalar_one()
    except IntegrityError:
        return None
    return incident_id


def set_ticket(session: Session, *, incident_id: int, ticket_id: int) -> None:
    session.execute(
        update(DeviceIncidentRow)
        .where(DeviceIncidentRow.id == incident_id)
        .values(ticket_id=ticket_id)
        .execution_options(synchronize_session=False)
    )


def count_firings(
    session: Session, *, incident_id: int, firings: int, first_at: datetime, last_at: datetime
) -> tuple[int, int | None] | None:
    """Add ``firings`` to an open incident's count and widen its span of events.

    Return ``(incident id, ticket id)``; None when it has closed meanwhile (its ticket finished).
    """
    incident = DeviceIncidentRow.__table__.c
    earliest, latest = (
        (func.least, func.greatest) if _is_postgresql(session) else (func.min, func.max)
    )
    row = session.execute(
        update(DeviceIncidentRow)
        .where(incident.id == incident_id, incident.status == "open")
        .values(
            event_count=incident.event_count + firings,
            first_event_at=earliest(incident.first_event_at, literal(first_at, UtcDateTime())),
            last_event_at=latest(incident.last_event_at, literal(last_at, UtcDateTime())),
        )
        .returning(incident.id, incident.ticket_id)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def incidents(
    session: Session, *, device_id: int, status: str | None = None
) -> Sequence[DeviceIncidentRow]:
    """Return the device's incidents, newest first (``status``: only open or closed ones)."""
    query = (
        select(DeviceIncidentRow)
        .where(DeviceIncidentRow.device_id == device_id)
        .order_by(DeviceIncidentRow.id.desc())
        .execution_options(populate_existing=True)
    )
    if status is not None:
        query = query.where(DeviceIncidentRow.status == status)
    return session.scalars(query).all()
