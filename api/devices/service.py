"""Devices' use cases: registering one, judging its events, opening maintenance tickets.

Posted events are stored, judged by the rules of the device's model
(:func:`api.devices.rules.evaluate`) and each firing counted on the open incident of its fault.
A fault without an open incident opens one, and with it a ``maintenance`` ticket for the
device's customer at the device's location, through ``tickets.service.store_tickets`` (the path
every ticket takes), the evidence in its notes and on the incident. The partial unique index on
open incidents decides concurrent openings: the loser counts on the winner's incident
(:func:`_count_on_incident`), so a storm of one alarm, however parallel, opens one ticket.

An incident closes once its ticket is completed (or later) or cancelled: every read and every
firing of the device first closes those (``repository.close_finished``), at the time the ticket
finished, so the next firing of the fault opens a new ticket.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, Role, require_roles, utc_now
from api.config import Settings
from api.db.spatial import lonlat
from api.db.tables import DeviceRow
from api.deps import SessionDep
from api.devices import repository as repo
from api.devices.rules import DeviceRules, Event, Firing, ModelRules, evaluate, related_events
from api.devices.schemas import (
    DeviceCreate,
    DeviceRead,
    EventBatchCreate,
    EventCreate,
    EventResult,
    EventsPosted,
    FiredRead,
    IncidentList,
    IncidentRead,
)
from api.errors import ApiError, invalid, invalid_field
from api.fields import RowIdParam
from api.idempotency import run_idempotent
from api.tickets import service as ticket_service
from api.tickets.rules import NewCustomer, NewTicket
from geo.coords import to_wgs84

Caller = Annotated[Principal, require_roles(Role.ADMIN, Role.DISPATCHER, Role.INTEGRATOR)]
#: How far ahead of the service's clock a device's clock may run before its events are refused.
CLOCK_SKEW = timedelta(minutes=5)
#: A warranty's last day is a calendar day where the device is: the demo city's zone.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
ATTEMPTS = 3  # a fault opened and closed by others in between is decided again; thrice is odd


def rules_in_force(settings: Settings) -> DeviceRules:
    """Return the device rules, each model's product line checked against the skill catalogue."""
    rules = repo.rules(settings.device_rules_file)
    for i, model in enumerate(rules.models):
        if model.product_line not in settings.skill_catalogue:
            raise repo.DeviceRulesFileError(
                f"{settings.device_rules_file}: models.{i}.product_line: {model.product_line!r} "
                f"is not a skill of the catalogue ({', '.join(settings.skill_catalogue)})",
                field=f"models.{i}.product_line",
            )
    return rules


def device_for_caller(device_id: RowIdParam, session: SessionDep, principal: Caller) -> DeviceRow:
    """Load a device the caller may see: staff any, an integrator its source's (else 404)."""
    row = repo.get_device(session, device_id=device_id)
    if row is None or (not principal.is_staff and row.source != principal.source):
        raise ApiError(404, "not_found", f"no device {device_id}")
    return row


VisibleDevice = Annotated[DeviceRow, Depends(device_for_caller)]


def _today() -> date:
    return utc_now().astimezone(LOCAL_ZONE).date()


# Registering a device.
def register_device(
    session: Session,
    *,
    device_in: DeviceCreate,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    """Store a device of the customer's source, once per idempotency key."""
    settings: Settings = request.app.state.settings
    rules = rules_in_force(settings)
    if rules.for_model(device_in.model) is None:
        known = ", ".join(m.model for m in rules.models)
        raise invalid_field(
            "model", f"unknown model {device_in.model!r}; {rules.key} knows {known}"
        )

    def work() -> DeviceRead:
        customer = repo.live_customer(session, customer_id=device_in.customer_id)
        if customer is None or (not principal.is_staff and customer.source != principal.source):
            raise invalid_field("customer_id", f"no customer {device_in.customer_id}")
        lons, lats = to_wgs84(
            np.array([device_in.location[0]]), np.array([device_in.location[1]]), device_in.crs
        )
        now = utc_now()
        new = repo.NewDevice(
            source=customer.source, external_id=device_in.external_id, customer_id=customer.id,
            model=device_in.model, lon=float(lons[0]), lat=float(lats[0]),
            address=device_in.address, warranty_until=device_in.warranty_until,
        )  # fmt: skip
        try:
            row = repo.insert_device(session, device=new, actor_key_id=principal.key_id, now=now)
        except IntegrityError as err:
            existing = repo.device_id_of(session, source=new.source, external_id=new.external_id)
            raise ApiError(
                409, "device_exists",
                f"source {new.source!r} already has device {new.external_id!r} (id {existing})",
                {"existing": {new.external_id: existing}},
            ) from err  # fmt: skip
        return DeviceRead.of(row, [], today=_today())

    return run_idempotent(
        session, request=request, principal=principal, key=idempotency_key, body=device_in,
        settings=settings, status_code=201, work=work,
    )  # fmt: skip


# Reading a device and its incidents.
def read_device(session: Session, device: DeviceRow) -> DeviceRead:
    """Return the device with its open incidents (finished tickets' incidents closed first)."""
    repo.close_finished(session, device_id=device.id, now=utc_now())
    session.commit()
    open_incidents = list(repo.incidents(session, device_id=device.id, status="open"))
    return DeviceRead.of(device, open_incidents, today=_today())


def list_incidents(session: Session, device: DeviceRow, status: str | None) -> IncidentList:
    """Return the device's incidents, newest first (finished tickets' incidents closed first)."""
    repo.close_finished(session, device_id=device.id, now=utc_now())
    session.commit()
    rows = repo.incidents(session, device_id=device.id, status=status)
    return IncidentList(items=[IncidentRead.of(row) for row in rows])


# Posting events.
def event_errors(
    events: list[EventCreate], model: ModelRules | None, model_name: str, *, now: datetime
) -> list[dict[str, Any]]:
    """Return ``{index, field, message}`` for events from the future or of unknown metrics."""
    latest = now + CLOCK_SKEW
    metrics = model.metrics if model is not None else []
    errors = []
    for i, event in enumerate(events):
        if event.occurred_at > latest:
            errors.append({
                "index": i, "field": f"events[{i}].occurred_at",
                "message": f"{event.occurred_at.isoformat()} is in the future (the service's "
                f"clock reads {now.isoformat(timespec='seconds')}; {CLOCK_SKEW} of skew allowed)",
            })  # fmt: skip
        if event.metric is not None and event.metric not in metrics:
            errors.append({
                "index": i, "field": f"events[{i}].metric",
                "message": f"model {model_name!r} reports no {event.metric!r}; its metrics: "
                f"{', '.join(metrics) or 'none'}",
            })  # fmt: skip
    return errors


def post_events(
    session: Session,
    *,
    device: DeviceRow,
    batch_in: EventBatchCreate,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
) -> JSONResponse:
    """Store a batch of the device's events, judge them, count firings; once per key."""
    settings: Settings = request.app.state.settings
    rules = rules_in_force(settings)
    model = rules.for_model(device.model)
    if errors := event_errors(batch_in.events, model, device.model, now=utc_now()):
        first = errors[0]
        raise invalid(f"{len(errors)} problem(s); first: {first['field']}: {first['message']}",
                      errors)  # fmt: skip

    def work() -> EventsPosted:
        judge = _Judgement(session, request, principal, device, rules, model)
        return judge.run([_event(e) for e in batch_in.events])

    return run_idempotent(
        session, request=request, principal=principal, key=idempotency_key, body=batch_in,
        settings=settings, status_code=201, work=work,
    )  # fmt: skip


def _event(event_in: EventCreate) -> Event:
    return Event(event_in.kind, event_in.occurred_at, event_in.metric, event_in.value,
                 event_in.fault_code)  # fmt: skip


class _Judgement:
    """One batch of one device's events: stored, judged, counted on incidents (no commit)."""

    def __init__(
        self, session: Session, request: Request, principal: Principal, device: DeviceRow,
        rules: DeviceRules, model: ModelRules | None,
    ) -> None:  # fmt: skip
        self.session, self.request, self.principal = session, request, principal
        self.device, self.rules, self.model = device, rules, model
        self.received_at = utc_now()
        self.history: list[Event] = []

    def run(self, events: list[Event]) -> EventsPosted:
        firings: list[list[Firing]] = [[] for _ in events]
        if self.model is not None and self.model.rules:
            since = min(e.occurred_at for e in events) - self.model.lookback
            until = max(e.occurred_at for e in events)
            self.history = repo.events_between(
                self.session, device_id=self.device.id, since=since, until=until
            )
            firings = evaluate(self.model, events, self.history)
        event_ids = repo.insert_events(
            self.session, device_id=self.device.id, events=events, now=self.received_at
        )
        by_fault: dict[str, list[tuple[int, Firing]]] = defaultdict(list)
        for i, fired in enumerate(firings):
            for firing in fired:
                by_fault[firing.fault_key].append((i, firing))
        if by_fault:
            repo.close_finished(self.session, device_id=self.device.id, now=self.received_at)
        counted: dict[str, tuple[int, int | None, int | None]] = {}
        # In a fixed order, so two batches opening the same faults wait on each other, not lock.
        for fault_key in sorted(by_fault):
            counted[fault_key] = self._count_on_incident(events, by_fault[fault_key])
        results = [
            EventResult(index=i, event_id=event_id, fired=[
                FiredRead(rule_id=f.rule_id, fault_key=f.fault_key, reason=f.reason,
                          incident_id=counted[f.fault_key][0], ticket_id=counted[f.fault_key][1],
                          opened=counted[f.fault_key][2] == i)
                for f in firings[i]
            ])
            for i, event_id in enumerate(event_ids)
        ]  # fmt: skip
        opened = sorted(incident for incident, _, opener in counted.values() if opener is not None)
        return EventsPosted(
            device_id=self.device.id, received_at=self.received_at, results=results,
            opened_incidents=opened,
        )  # fmt: skip

    def _count_on_incident(
        self, events: list[Event], hits: list[tuple[int, Firing]]
    ) -> tuple[int, int | None, int | None]:
        """Count ``hits`` (one fault's firings) on its open incident, opening one if none is.

        Return the incident, its ticket and the index of the event that opened it (None: it
        was open already). A concurrent request that opens the fault first wins the unique
        index; this one then counts on its incident.
        """
        times = sorted(events[i].occurred_at for i, _ in hits)
        fault_key = hits[0][1].fault_key
        for _ in range(ATTEMPTS):
            incident_id = repo.open_incident_id(
                self.session, device_id=self.device.id, fault_key=fault_key
            )
            if incident_id is not None:
                counted = repo.count_firings(
                    self.session, incident_id=incident_id, firings=len(hits),
                    first_at=times[0], last_at=times[-1],
                )  # fmt: skip
                if counted is not None:
                    return counted[0], counted[1], None
                continue  # its ticket finished meanwhile: the fault needs a new incident
            opener, firing = min(hits, key=lambda hit: events[hit[0]].occurred_at)
            evidence = {
                "rules": self.rules.key, "reason": firing.reason, "firing": dict(firing.evidence),
                "related": [_evidence_of(e) for e in
                            related_events([*self.history, *events], events[opener])],
            }  # fmt: skip
            incident_id = repo.claim_incident(self.session, values={
                "device_id": self.device.id, "fault_key": fault_key, "rule_id": firing.rule_id,
                "status": "open", "event_count": len(hits), "first_event_at": times[0],
                "last_event_at": times[-1], "evidence": evidence, "opened_at": self.received_at,
            })  # fmt: skip
            if incident_id is None:
                continue  # a concurrent request opened it first: count on theirs
            ticket_id = self._open_ticket(incident_id, firing)
            repo.set_ticket(self.session, incident_id=incident_id, ticket_id=ticket_id)
            return incident_id, ticket_id, opener
        raise ApiError(
            409, "incident_contended",
            f"incident of fault {fault_key!r} of device {self.device.id} changed {ATTEMPTS} "
            "times while these events were judged; retry",
            {"fault_key": fault_key}, headers={"Retry-After": "1"},
        )  # fmt: skip

    def _open_ticket(self, incident_id: int, firing: Firing) -> int:
        """Store the incident's maintenance ticket for the device's customer, where it stands."""
        assert self.model is not None  # firings come from the model's rules
        device = self.device
        lon, lat = lonlat(device.location)
        index = self.request.app.state.region_cache.index(self.session)
        (region_id,) = index.locate(np.array([lon]), np.array([lat]))
        customer = repo.live_customer(self.session, customer_id=device.customer_id)
        warranty = (
            "no warranty on record" if device.warranty_until is None
            else f"under warranty until {device.warranty_until}"
            if _today() <= device.warranty_until else f"warranty ended {device.warranty_until}"
        )  # fmt: skip
        notes = (
            f"Device alarm: {device.model} {device.external_id} (device {device.id}), incident "
            f"{incident_id}. Rule {firing.rule_id} of {self.rules.key}: {firing.reason}. "
            f"{warranty.capitalize()}. Evidence: GET /v1/devices/{device.id}/incidents."
        )
        ticket = NewTicket(
            source=device.source, external_id=f"device-{device.id}-incident-{incident_id}",
            type="maintenance", lon=lon, lat=lat, region_id=region_id, address=device.address,
            duration_min=self.model.duration_min, skills={self.model.product_line: 1}, windows=[],
            priority=firing.priority, notes=notes,
            customer=None if customer is None else NewCustomer(customer.name, known_id=customer.id),
        )  # fmt: skip
        (stored,) = ticket_service.store_tickets(
            self.session, tickets=[ticket], actor_key_id=self.principal.key_id,
            now=self.received_at,
        )  # fmt: skip
        return stored.id


def _evidence_of(event: Event) -> dict[str, Any]:
    reading = {"metric": event.metric, "value": event.value}
    return {"occurred_at": event.occurred_at.isoformat(), "kind": event.kind} | (
        reading if event.kind == "reading" else {"fault_code": event.fault_code}
    )
