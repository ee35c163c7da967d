"""What a dispatcher's manual assignment breaks: each broken constraint becomes a warning.

The solver never breaks these; a dispatcher may (the customer insists on a technician, a
senior covers a junior's skill), but must see what they override before forcing it. Who may
serve whom (skills at their levels, territory) is ``dispatch.eligibility.refusals``, the rule
the solver's ``allowed`` matrix uses; the day's checks (active, shift, load) are here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from api.db.spatial import lonlat
from api.db.tables import TechnicianRow, TechnicianShiftRow, TicketRow
from dispatch import Technician, TechnicianId, WorkOrder, WorkOrderId
from dispatch.eligibility import Refusal, RefusalCode, refusals
from geo.regions import RegionIndex


@dataclass(frozen=True, slots=True)
class ConstraintWarning:
    """One broken constraint: a stable ``code`` and a sentence naming the values."""

    code: str
    message: str


def assignment_warnings(
    *,
    ticket: TicketRow,
    technician: TechnicianRow,
    shift: TechnicianShiftRow | None,
    booked: Sequence[TicketRow],
    index: RegionIndex,
) -> list[ConstraintWarning]:
    """Return the constraints that giving ``ticket`` to ``technician`` on a day breaks.

    ``shift`` is the technician's shift that day (``None``: off duty) and ``booked`` the
    other tickets already assigned to them that day.
    """
    found = refusals(as_technician(technician, index), as_order(ticket))
    warnings = [_warning(r, ticket, technician) for r in found]
    if not technician.is_active:
        warnings.append(ConstraintWarning("technician_inactive", f"{technician.id} is inactive"))
    if shift is None:
        return [*warnings, ConstraintWarning("no_shift", f"{technician.id} has no shift that day")]
    warnings += _windows(ticket, shift)
    if technician.max_orders is not None and len(booked) + 1 > technician.max_orders:
        warnings.append(
            ConstraintWarning(
                "over_max_orders",
                f"{technician.id} would have {len(booked) + 1} orders that day, "
                f"max {technician.max_orders}",
            )
        )
    shift_min = (shift.end_at - shift.start_at).total_seconds() / 60
    booked_min = sum(t.duration_min for t in booked) + ticket.duration_min
    if booked_min > shift_min:
        warnings.append(
            ConstraintWarning(
                "over_capacity",
                f"{booked_min} min of service booked for {technician.id} in a "
                f"{shift_min:.0f} min shift, before any travel",
            )
        )
    return warnings


def as_technician(row: TechnicianRow, index: RegionIndex) -> Technician:
    """Return the technician as ``refusals`` reads it; a territory includes the regions below."""
    territory = None
    if row.territory is not None:
        territory = frozenset[str]().union(*(index.descendants(r) for r in row.territory))
    return Technician(
        TechnicianId(row.id), lonlat(row.home_base), (), dict(row.skills), territory=territory
    )


def as_order(ticket: TicketRow) -> WorkOrder:
    """Return the ticket as ``refusals`` reads it: unpinned (this assignment is its pin)."""
    return WorkOrder(
        WorkOrderId(str(ticket.id)), lonlat(ticket.location), ticket.duration_min * 60,
        required_skills=dict(ticket.skills), region_id=ticket.region_id,
    )  # fmt: skip


def _warning(refusal: Refusal, ticket: TicketRow, technician: TechnicianRow) -> ConstraintWarning:
    """Name the values behind one refusal in a sentence for the dispatcher."""
    skill, needed, held = refusal.skill, refusal.needed_level, refusal.held_level
    match refusal.code:
        case RefusalCode.SKILL_MISSING:
            message = f"{technician.id} lacks skill {skill!r} (level {needed} needed)"
        case RefusalCode.SKILL_LEVEL_TOO_LOW:
            message = f"{technician.id} has {skill!r} at level {held}, {needed} needed"
        case RefusalCode.OUTSIDE_TERRITORY:
            message = (
                f"ticket is in region {ticket.region_id}, outside {technician.id}'s territory "
                f"{sorted(technician.territory or ())}"
            )
        case RefusalCode.PINNED_ELSEWHERE:
            message = f"ticket is pinned to another technician than {technician.id}"
    return ConstraintWarning(refusal.code.value, message)


def _windows(ticket: TicketRow, shift: TechnicianShiftRow) -> list[ConstraintWarning]:
    """Check that service can start in a window and end by the shift's end."""
    latest_start = shift.end_at.timestamp() - ticket.duration_min * 60
    windows = [
        (datetime.fromisoformat(s).timestamp(), datetime.fromisoformat(e).timestamp())
        for s, e in ticket.time_windows
    ] or [(shift.start_at.timestamp(), latest_start)]
    if any(s <= latest_start and shift.start_at.timestamp() <= e for s, e in windows):
        return []
    span = f"{shift.start_at.isoformat()} to {shift.end_at.isoformat()}"
    message = f"no time window of the ticket lets its service fit in the shift {span}"
    return [ConstraintWarning("outside_shift", message)]
