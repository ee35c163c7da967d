"""A hand-counted fortnight for the reports: 2026-11-30 (Mon) to 2026-12-13 (Sun), Shanghai.

Leads (``channel``, local capture time, what happened):

1. web_form, Mon 11-30 01:00 (Sunday in UTC), zone-a: called and reached after 30 min (due
   after 60): contacted, qualified, first response on time.
2. web_form, Tue 12-01 10:00: converted into ticket 1 with no response: contacted, qualified,
   converted; owes no first response (closed).
3. web_form, Tue 12-01 11:00: rejected: junk.
4. ads, Tue 12-08 09:00, zone-b: assigned, never answered, due after 2 h: late.
5. ads, Tue 12-08 10:00, zone-b: called, no answer, after 3 h (due after 2): contacted, not
   qualified, late; 180 minutes.
6. ads, Mon 12-14 00:30 local (still 12-13 in UTC): outside the period.

Tickets (local times; ``now`` is 2026-12-20 unless a test says otherwise):

- T1 zone-a, T-1: created 12-01 09:00, due 12-02 09:00; en route 13:30, on site 14:00,
  completed 15:00 (on time, 360 min).
- T2 zone-a, T-1: created 12-01 09:00, due 12-01 12:00; en route 12:00, on site 12:20,
  completed 13:00 (late, 240 min).
- T3 zone-a: created 12-03 09:00, due 12-04 09:00, still scheduled: late.
- T4 zone-b: due 12-05, cancelled: left out.
- T5 zone-a, T-2: created 12-05 09:00, due 12-06 09:00; on site 09:30, completed 10:00 (on
  time, 60 min; no en route).

Shifts: T-1 on 12-01 08:00-17:00 with a 60-minute break and on 12-02 08:00-12:00; T-2 on
12-05 09:00-13:00. Settlements: T1 zone-a (base 80.00 + region 16.00); T2 zone-a settled
twice, the later one standing (base 80.00 + urgency 10.00); T5 outside every region (base
50.00); one more of T5 on 12-14 would be outside the period (it is T3's, for its FK).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.db.spatial import to_wkb
from api.db.tables import (
    LeadRow,
    LeadTouchRow,
    RateCardVersionRow,
    SettlementRow,
    TechnicianRow,
    TechnicianShiftRow,
    TicketRow,
    TicketStatusChangeRow,
)
from api.reports.rules import Period

ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = Period(date(2026, 11, 30), date(2026, 12, 13), "Asia/Shanghai")
NOW = datetime(2026, 12, 20, tzinfo=UTC)


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


@dataclass
class ReportWorld:
    """The ids of the fortnight's tickets by name (T1...T5)."""

    tickets: dict[str, int]


def _technician(session: Session, technician_id: str, name: str) -> None:
    at = local(11, 1, 8)
    session.add(
        TechnicianRow(
            id=technician_id,
            name=name,
            home_base=to_wkb(Point(121.47, 31.23)),
            skills={},
            is_active=True,
            created_at=at,
            updated_at=at,
        )
    )


def _ticket(
    session: Session, name: str, *, region: str | None, created: datetime, due: datetime,
    status: str, technician: str | None = None,
) -> int:  # fmt: skip
    row = TicketRow(
        source="shop-a", external_id=f"R-{name}", type="repair",
        location=to_wkb(Point(121.47, 31.23)), region_id=region, address="测试路 1 号",
        duration_min=60, skills={}, time_windows=[], priority="normal", sla_due_at=due,
        status=status, technician_id=technician, created_at=created, updated_at=created,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def _changes(session: Session, ticket_id: int, **times: datetime) -> None:
    for status, at in times.items():
        session.add(TicketStatusChangeRow(ticket_id=ticket_id, to_status=status, at=at))


def _lead(session: Session, **fields: Any) -> LeadRow:
    created = fields.pop("created_at")
    row = LeadRow(
        source="shop-a", score_lines=[], touch_count=1, last_touched_at=created,
        created_at=created, updated_at=created, **fields,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _settle(
    session: Session, ticket_id: int, card_id: int, *, region: str | None, day: date,
    lines: dict[str, int], technician: str = "T-1", bill_fen: int | None = None,
) -> None:  # fmt: skip
    at = datetime(day.year, day.month, day.day, 10, tzinfo=ZONE)
    session.add(
        SettlementRow(
            ticket_id=ticket_id,
            technician_id=technician,
            rate_card_version_id=card_id,
            rate_card_version="c@v1",
            service_type="repair",
            region_id=region,
            service_at=at,
            service_date=day,
            nth_in_period=1,
            total_fen=sum(lines.values()),
            currency="CNY",
            lines=[
                {
                    "code": code,
                    "label_zh": f"{code}中",
                    "label_en": code.replace("_", " "),
                    "basis": "1",
                    "rate": "1",
                    "amount_fen": fen,
                    "rule_id": code,
                }
                for code, fen in lines.items()
            ],
            inputs={},
            settled_at=at,
            bill_total_fen=bill_fen,
            bill_currency=None if bill_fen is None else "CNY",
        )
    )
    session.flush()


def _card(session: Session, version: int) -> int:
    row = RateCardVersionRow(
        card_id="c", version=version, currency="CNY", time_zone="Asia/Shanghai",
        effective_from=date(2026, 1, 1), document_format="json", document="{}",
        content_sha256="0" * 64, created_at=local(11, 1, 8),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def build(session: Session) -> ReportWorld:
    """Write the fortnight of the module docstring in ``session``."""
    _technician(session, "T-1", "张师傅")
    _technician(session, "T-2", "=cmd|' /C calc'!A0")  # a name a spreadsheet would run
    session.flush()
    t = {
        "T1": _ticket(session, "T1", region="zone-a", created=local(12, 1, 9),
                      due=local(12, 2, 9), status="settled", technician="T-1"),
        "T2": _ticket(session, "T2", region="zone-a", created=local(12, 1, 9),
                      due=local(12, 1, 12), status="settled", technician="T-1"),
        "T3": _ticket(session, "T3", region="zone-a", created=local(12, 3, 9),
                      due=local(12, 4, 9), status="scheduled"),
        "T4": _ticket(session, "T4", region="zone-b", created=local(12, 3, 9),
                      due=local(12, 5, 9), status="cancelled"),
        "T5": _ticket(session, "T5", region="zone-a", created=local(12, 5, 9),
                      due=local(12, 6, 9), status="completed", technician="T-2"),
    }  # fmt: skip
    _changes(session, t["T1"], en_route=local(12, 1, 13, 30), on_site=local(12, 1, 14),
             completed=local(12, 1, 15))  # fmt: skip
    _changes(session, t["T2"], en_route=local(12, 1, 12), on_site=local(12, 1, 12, 20),
             completed=local(12, 1, 13))  # fmt: skip
    _changes(session, t["T5"], on_site=local(12, 5, 9, 30), completed=local(12, 5, 10))
    session.add_all([
        TechnicianShiftRow(technician_id="T-1", day=date(2026, 12, 1), start_at=local(12, 1, 8),
                           end_at=local(12, 1, 17), breaks=[
                               {"earliest_start_at": local(12, 1, 12).isoformat(),
                                "latest_start_at": local(12, 1, 13).isoformat(),
                                "duration_min": 60}]),
        TechnicianShiftRow(technician_id="T-1", day=date(2026, 12, 2), start_at=local(12, 2, 8),
                           end_at=local(12, 2, 12), breaks=[]),
        TechnicianShiftRow(technician_id="T-2", day=date(2026, 12, 5), start_at=local(12, 5, 9),
                           end_at=local(12, 5, 13), breaks=[]),
    ])  # fmt: skip
    first = _lead(session, channel="web_form", created_at=local(11, 30, 1), status="contacted",
                  region_id="zone-a", first_response_due_at=local(11, 30, 2),
                  first_responded_at=local(11, 30, 1, 30))  # fmt: skip
    session.add(LeadTouchRow(lead_id=first.id, direction="outbound", kind="call",
                             outcome="reached", at=local(11, 30, 1, 30)))  # fmt: skip
    _lead(session, channel="web_form", created_at=local(12, 1, 10), status="converted",
          region_id="zone-a", first_response_due_at=local(12, 1, 11), ticket_id=t["T1"],
          converted_at=local(12, 1, 10, 30))  # fmt: skip
    _lead(session, channel="web_form", created_at=local(12, 1, 11), status="rejected",
          rejection_code="spam")  # fmt: skip
    _lead(session, channel="ads", created_at=local(12, 8, 9), status="assigned",
          region_id="zone-b", first_response_due_at=local(12, 8, 11))  # fmt: skip
    fifth = _lead(session, channel="ads", created_at=local(12, 8, 10), status="contacted",
                  region_id="zone-b", first_response_due_at=local(12, 8, 12),
                  first_responded_at=local(12, 8, 13))  # fmt: skip
    session.add(LeadTouchRow(lead_id=fifth.id, direction="outbound", kind="call",
                             outcome="no_answer", at=local(12, 8, 13)))  # fmt: skip
    _lead(session, channel="ads", created_at=local(12, 14, 0, 30), status="new",
          first_response_due_at=local(12, 14, 2))  # fmt: skip
    card_v1, card_v2 = _card(session, 1), _card(session, 2)
    _settle(session, t["T1"], card_v1, region="zone-a", day=date(2026, 12, 1),
            lines={"base_fee": 8000, "region_coefficient": 1600}, bill_fen=15000)  # fmt: skip
    _settle(
        session,
        t["T2"],
        card_v1,
        region="zone-a",
        day=date(2026, 12, 1),
        lines={"base_fee": 8000},
        bill_fen=99999,
    )  # fmt: skip  (superseded below)
    _settle(session, t["T2"], card_v2, region="zone-a", day=date(2026, 12, 1),
            lines={"base_fee": 8000, "urgency": 1000}, bill_fen=14000)  # fmt: skip
    _settle(session, t["T5"], card_v1, region=None, day=date(2026, 12, 5),
            lines={"base_fee": 5000}, technician="T-2")  # fmt: skip
    _settle(session, t["T3"], card_v1, region="zone-a", day=date(2026, 12, 14),
            lines={"base_fee": 7000})  # fmt: skip
    session.flush()
    return ReportWorld(tickets=t)
