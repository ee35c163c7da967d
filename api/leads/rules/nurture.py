"""A nurture schedule: timed touches from the lead's capture, by band and available contact."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

TOUCH_KINDS = ("call", "sms", "email", "visit")
# (day, kind): a hot lead is called at once and followed up for a week; a cold one mostly
# hears from us in writing, at a pace that does not annoy.
CADENCE_BY_BAND: Mapping[str, tuple[tuple[int, str], ...]] = MappingProxyType(
    {
        "hot": ((0, "call"), (1, "sms"), (3, "email"), (7, "call")),
        "warm": ((0, "call"), (2, "sms"), (5, "email"), (10, "call")),
        "cold": ((0, "sms"), (3, "email"), (14, "call"), (30, "email")),
    }
)
NEEDS_PHONE = frozenset({"call", "sms"})


@dataclass(frozen=True, slots=True)
class NurtureStep:
    """One planned touch: its order, day offset, kind and due time."""

    seq: int
    day: int
    kind: str
    due_at: datetime


def nurture_schedule(
    *,
    band: str,
    starts_at: datetime,
    has_phone: bool,
    has_email: bool,
    cadence: Mapping[str, Sequence[tuple[int, str]]] = CADENCE_BY_BAND,
) -> list[NurtureStep]:
    """Plan the touches for a lead of ``band`` from ``starts_at``, dropping steps it cannot take.

    Without a phone, calls and SMS cannot happen; without an e-mail, e-mails cannot.  A lead
    with neither (impossible after cleaning) gets no plan.

    >>> [(s.day, s.kind) for s in nurture_schedule(
    ...     band="hot", starts_at=datetime(2026, 1, 1), has_phone=True, has_email=False)]
    [(0, 'call'), (1, 'sms'), (7, 'call')]
    """
    steps: list[NurtureStep] = []
    for day, kind in cadence[band]:
        if (kind in NEEDS_PHONE and not has_phone) or (kind == "email" and not has_email):
            continue
        steps.append(NurtureStep(len(steps) + 1, day, kind, starts_at + timedelta(days=day)))
    return steps
