"""The ticket state machine: which status may follow which, and who may move a ticket there.

::

    new -> scheduled -> dispatched -> en_route -> on_site -> completed -> confirmed -> settled
     |        |  ^          |  ^         |           |
     |        v  |          v  |         v           v
     |       new |     scheduled |     failed      failed -> new (re-opened for another visit)
     v           |               |
    cancelled <--+---------------+   (new, scheduled and dispatched may be cancelled)

Who may do what:

- staff (admin, dispatcher): every edge except ``confirmed -> settled``;
- a technician, only on tickets assigned to them: ``dispatched -> en_route -> on_site ->
  completed``, ``en_route | on_site -> failed``, and ``completed -> confirmed`` (the customer
  signs on the technician's device);
- an integrator, only on its own source's tickets: cancel before dispatch (``new`` or
  ``scheduled``) and ``completed -> confirmed`` (the customer signs in the integrator's app);
- settlement (no HTTP caller): ``confirmed -> settled``, once the order is paid out.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar


class TicketStatus(StrEnum):
    """Where a ticket is in its life."""

    NEW = "new"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Actor(StrEnum):
    """Kinds of caller, as far as the state machine cares."""

    STAFF = "staff"
    TECHNICIAN = "technician"
    INTEGRATOR = "integrator"
    SETTLEMENT = "settlement"


S, A = TicketStatus, Actor
_STAFF = frozenset({A.STAFF})
_FIELD = frozenset({A.STAFF, A.TECHNICIAN})

TRANSITIONS: dict[TicketStatus, dict[TicketStatus, frozenset[Actor]]] = {
    S.NEW: {S.SCHEDULED: _STAFF, S.CANCELLED: frozenset({A.STAFF, A.INTEGRATOR})},
    S.SCHEDULED: {
        S.DISPATCHED: _STAFF,
        S.NEW: _STAFF,
        S.CANCELLED: frozenset({A.STAFF, A.INTEGRATOR}),
    },
    S.DISPATCHED: {S.EN_ROUTE: _FIELD, S.SCHEDULED: _STAFF, S.CANCELLED: _STAFF},
    S.EN_ROUTE: {S.ON_SITE: _FIELD, S.FAILED: _FIELD},
    S.ON_SITE: {S.COMPLETED: _FIELD, S.FAILED: _FIELD},
    S.COMPLETED: {S.CONFIRMED: frozenset({A.STAFF, A.TECHNICIAN, A.INTEGRATOR})},
    S.CONFIRMED: {S.SETTLED: frozenset({A.SETTLEMENT})},
    S.FAILED: {S.NEW: _STAFF},
    S.SETTLED: {},
    S.CANCELLED: {},
}
"""``TRANSITIONS[from][to]`` is the set of actors allowed to take that edge."""

# An SLA no longer applies once the work is done or will not be done.
SLA_CLOSED = frozenset({S.COMPLETED, S.CONFIRMED, S.SETTLED, S.CANCELLED})
# Statuses in which a ticket needs a technician.
ASSIGNED = frozenset({S.SCHEDULED, S.DISPATCHED, S.EN_ROUTE, S.ON_SITE, S.COMPLETED})


OPEN_STATUSES = [s.value for s in TicketStatus if s not in SLA_CLOSED]


class TransitionError(Exception):
    """Base class; ``code`` and ``details`` become the API error body."""

    code: ClassVar[str] = "transition_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class IllegalTransition(TransitionError):
    """No edge leads from the current status to the requested one (HTTP 409)."""

    code: ClassVar[str] = "illegal_transition"


class TransitionNotPermitted(TransitionError):
    """The edge exists but this kind of caller may not take it (HTTP 403)."""

    code: ClassVar[str] = "transition_not_permitted"


def check_transition(current: TicketStatus, target: TicketStatus, actor: Actor) -> None:
    """Raise unless ``actor`` may move a ticket from ``current`` to ``target``.

    Examples
    --------
    >>> check_transition(TicketStatus.NEW, TicketStatus.SCHEDULED, Actor.STAFF)
    >>> check_transition(TicketStatus.NEW, TicketStatus.ON_SITE, Actor.STAFF)
    Traceback (most recent call last):
    ...
    api.tickets.rules.IllegalTransition: cannot go from new to on_site (allowed: ...)
    """
    allowed = TRANSITIONS[current]
    if target not in allowed:
        names = ", ".join(allowed) or "none, it is final"
        raise IllegalTransition(
            f"cannot go from {current} to {target} (allowed: {names})",
            from_status=current.value,
            to_status=target.value,
            allowed=list(allowed),
        )
    if actor not in allowed[target]:
        raise TransitionNotPermitted(
            f"a {actor} caller may not move a ticket from {current} to {target}",
            from_status=current.value,
            to_status=target.value,
            actor=actor.value,
        )


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """A customer as submitted with a ticket: phone in E.164, e-mail canonical.

    ``known_id`` is the customer a converted lead already belongs to.
    """

    name: str
    phone: str | None = None
    email: str | None = None
    member_id: str | None = None
    marketplace_buyer_id: str | None = None
    wechat_open_id: str | None = None
    known_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A validated ticket, location already WGS84 and region already located.

    ``materials`` are ``(code, quantity)`` pairs, as ``settlement.CompletedOrder`` takes them.
    """

    source: str
    external_id: str
    type: str
    lon: float
    lat: float
    region_id: str | None
    address: str
    duration_min: int
    skills: dict[str, int]
    windows: list[tuple[datetime, datetime]]
    priority: str
    sla_due_at: datetime | None = None
    customer: NewCustomer | None = None
    notes: str | None = None
    demand: int = 0
    units: int = 1
    difficulty: tuple[str, ...] = ()
    materials: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CardTerms:
    """Difficulty flags and material codes of the rate cards in force now or later."""

    flags: frozenset[str]
    materials: frozenset[str]


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the customer signed, as submitted with ``to: confirmed``."""

    signer_name: str
    signed_at: datetime
    image: bytes | None = None
    image_media_type: str | None = None
    rating: int | None = None  # 1..5; None when the customer gave none


def sla_flags(
    *, status: str, sla_due_at: datetime | None, now: datetime, at_risk_margin: timedelta
) -> tuple[bool, bool]:
    """Return ``(at_risk, overdue)``: the rule the ``sla`` list filter applies in SQL."""
    if sla_due_at is None or status not in OPEN_STATUSES:
        return False, False
    return now <= sla_due_at <= now + at_risk_margin, sla_due_at < now
