"""What the technician pages show: plain values the templates read (no rows, no SQL)."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from api.earnings.schemas import EntryRead, MoneyRead, StatementRead
from api.procedures.schemas import TicketProcedureRead
from settlement import Money, PayoutBreakdown


@dataclass(frozen=True, slots=True)
class Pay:
    """The pay of one stop: its breakdown, or why the rate card cannot price it.

    ``is_settled`` tells a paid settlement from an estimate under the card in force.
    """

    breakdown: PayoutBreakdown | None
    reason: str | None = None
    is_settled: bool = False


@dataclass(frozen=True, slots=True)
class StopView:
    """One ticket of the technician's day, times in the service's zone."""

    ticket_id: int
    external_id: str
    status: str
    sequence: int | None
    service_type: str
    priority: str
    address: str
    duration_min: int
    windows: tuple[tuple[datetime, datetime], ...]
    eta_at: datetime | None
    skills: tuple[tuple[str, int], ...]
    parts: int
    materials: tuple[tuple[str, int], ...]
    actions: tuple[str, ...]
    pay: Pay
    procedure: TicketProcedureRead


@dataclass(frozen=True, slots=True)
class TodayView:
    """A technician's day: open stops in route order, then the finished ones, and the pay."""

    technician_id: str
    technician_name: str
    day: date
    is_today: bool
    shift: tuple[datetime, datetime] | None
    stops: tuple[StopView, ...]
    finished: tuple[StopView, ...]
    expected_total: Money | None
    unpriced: int
    is_read_only: bool


@dataclass(frozen=True, slots=True)
class TierProgress:
    """Where the technician stands in the volume tiers of the card in force.

    ``reached`` is the index of the tier of the period's latest settled order (None before the
    first); ``orders_to_next`` is how many more orders reach the next tier (None at the top).
    """

    period: str
    orders: int
    reached: int | None
    spans: tuple[str, ...]
    coefficients: tuple[Decimal, ...]
    orders_to_next: int | None


@dataclass(frozen=True, slots=True)
class EarningsView:
    """A technician's pay over a period, their ledger and whether they may withdraw here."""

    technician_id: str
    technician_name: str
    first: date
    last: date
    statement: StatementRead
    balance: MoneyRead
    entries: tuple[EntryRead, ...]
    tier: TierProgress | None
    is_read_only: bool
