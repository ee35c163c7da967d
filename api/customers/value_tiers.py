"""Customer value tiers: RFM scores against a versioned policy, and what a tier changes in dispatch.

A customer's recency (days since their last completed service), frequency (services completed
in the look-back window) and monetary value (what they were billed in it, in fen) each score
1-5 against the policy's thresholds; the sum (3-15) picks the tier, the first whose
``min_score`` it reaches, best first. A customer with no completed service scores 1 on every
count, so they land in the last tier.

A tier may raise a ticket's dispatch priority by whole steps (never above the policy's
``max_priority``) and shorten the time left to its SLA by a factor. Both act when dispatch
builds its problem, not on the stored ticket: the ticket keeps what the integrator sent, and a
customer who moves tier is served by their new tier from the next run on.

Pure: no SQL, web or files. The policy arrives as the parsed TOML table (``data/value_tiers.toml``,
format in docs/customers.md).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dispatch.model import PRIORITY_SCALE

PRIORITIES: tuple[str, ...] = tuple(sorted(PRIORITY_SCALE, key=PRIORITY_SCALE.__getitem__))
SCORES = (1, 2, 3, 4, 5)


class InvalidTierPolicy(ValueError):
    """A tier policy that cannot be used; ``field`` is the dotted path of the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Threshold = Annotated[int, Field(ge=0)]


class _Thresholds(_Strict):
    """Four ascending limits that split a measure into the scores 1-5."""

    limits: Annotated[list[Threshold], Field(min_length=4, max_length=4)]

    @model_validator(mode="after")
    def _ascending(self) -> Self:
        if any(a >= b for a, b in pairwise(self.limits)):
            raise ValueError("limits must be strictly ascending")
        return self


class TierRule(_Strict):
    """One tier: the least RFM total that reaches it and what it changes in dispatch."""

    name: Annotated[str, Field(min_length=1, max_length=16)]
    min_score: Annotated[int, Field(ge=3, le=15)]
    priority_steps: Annotated[int, Field(ge=0, le=2)] = 0
    # The share of the time to the SLA that is kept: 0.5 halves it, 1 leaves it.
    sla_factor: Annotated[Decimal, Field(gt=0, le=1)] = Decimal(1)
    label_zh: str = ""
    label_en: str = ""


class TierPolicy(_Strict):
    """The versioned policy: look-back window, score thresholds and the tiers, best first."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    version: Annotated[int, Field(ge=1)]
    effective_from: date
    lookback_days: Annotated[int, Field(ge=1, le=3660)]
    # Days since the last service at which recency drops a score: <= limits[0] scores 5.
    recency_days: _Thresholds
    # Services in the window at which frequency reaches 2, 3, 4 and 5.
    frequency: _Thresholds
    # Billed fen in the window at which monetary value reaches 2, 3, 4 and 5.
    monetary_fen: _Thresholds
    max_priority: str = "urgent"
    tiers: Annotated[list[TierRule], Field(min_length=1, max_length=8)]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.max_priority not in PRIORITY_SCALE:
            raise ValueError(f"max_priority must be one of {list(PRIORITIES)}")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        floors = [t.min_score for t in self.tiers]
        if any(a <= b for a, b in pairwise(floors)):
            raise ValueError("tiers must be listed best first, with strictly falling min_score")
        if floors[-1] != min(SCORES) * 3:
            raise ValueError("the last tier must start at min_score 3 so that every score has one")
        return self

    def tier(self, name: str) -> TierRule | None:
        """Return the tier called ``name`` (None when this policy has none of that name)."""
        return next((t for t in self.tiers if t.name == name), None)


def parse_tier_policy(table: Mapping[str, object]) -> TierPolicy:
    """Validate a parsed policy table; the error names the first offending field."""
    try:
        return TierPolicy.model_validate(table, strict=False)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "policy"
        raise InvalidTierPolicy(f"{field}: {first['msg']}", field=field) from err


@dataclass(frozen=True, slots=True)
class CustomerActivity:
    """What the scores read: the last completed service and the window's count and spend."""

    last_service_at: datetime | None
    services: int
    billed_fen: int


@dataclass(frozen=True, slots=True)
class ValueScore:
    """A customer's RFM scores (1-5 each), their total and the tier it reaches."""

    recency: int
    frequency: int
    monetary: int
    tier: str
    policy_version: int

    @property
    def total(self) -> int:
        return self.recency + self.frequency + self.monetary


def _rising(value: int, limits: Sequence[int]) -> int:
    """Score 1 below the first limit, up to 5 at or above the last."""
    return 1 + sum(value >= limit for limit in limits)


def score(activity: CustomerActivity, policy: TierPolicy, *, as_of: datetime) -> ValueScore:
    """Score ``activity`` as of ``as_of`` (a service after ``as_of`` counts as today's).

    Recency scores 5 up to ``recency_days.limits[0]`` days since the last service and loses one
    for each limit passed; frequency and monetary value gain one for each limit reached.
    """
    if activity.last_service_at is None:
        recency = 1
    else:
        days = max(0, (as_of - activity.last_service_at) // timedelta(days=1))
        recency = 5 - sum(days > limit for limit in policy.recency_days.limits)
    frequency = _rising(activity.services, policy.frequency.limits)
    monetary = _rising(activity.billed_fen, policy.monetary_fen.limits)
    total = recency + frequency + monetary
    tier = next(t.name for t in policy.tiers if total >= t.min_score)
    return ValueScore(recency, frequency, monetary, tier, policy.version)


def effective_priority(priority: str, tier: str | None, policy: TierPolicy) -> str:
    """Return the priority dispatch uses: raised by the tier's steps, up to ``max_priority``.

    A ticket sent above ``max_priority`` (an emergency) keeps its own priority.
    """
    rule = policy.tier(tier) if tier is not None else None
    if rule is None or rule.priority_steps == 0 or priority not in PRIORITY_SCALE:
        return priority
    ceiling = PRIORITY_SCALE[policy.max_priority]
    current = PRIORITY_SCALE[priority]
    raised = min(current + rule.priority_steps, max(ceiling, current))
    return PRIORITIES[raised]


def effective_sla(
    created_at: datetime, sla_due_at: datetime | None, tier: str | None, policy: TierPolicy
) -> datetime | None:
    """Return the SLA deadline dispatch uses: the time from creation to it times the factor.

    Rounded down to the second, so a shortened deadline is never later than the factor says.
    """
    rule = policy.tier(tier) if tier is not None else None
    if sla_due_at is None or rule is None or rule.sla_factor == 1:
        return sla_due_at
    allowed = max(timedelta(0), sla_due_at - created_at)
    kept_s = int(Decimal(int(allowed.total_seconds())) * rule.sla_factor)
    return created_at + timedelta(seconds=kept_s)


@dataclass(frozen=True, slots=True)
class TierTerms:
    """The policy and the tiers of the customers of the tickets being dispatched."""

    policy: TierPolicy
    tier_by_customer: Mapping[int, str]

    def with_tiers(self, tiers: Mapping[int, str]) -> "TierTerms":
        """Return the terms knowing ``tiers`` (by customer id) as well."""
        return TierTerms(self.policy, {**self.tier_by_customer, **tiers})

    def for_ticket(
        self, priority: str, created_at: datetime, sla_due_at: datetime | None,
        customer_id: int | None,
    ) -> tuple[str, datetime | None]:  # fmt: skip
        """Return the priority and SLA deadline dispatch uses for a ticket of ``customer_id``."""
        tier = None if customer_id is None else self.tier_by_customer.get(customer_id)
        return (
            effective_priority(priority, tier, self.policy),
            effective_sla(created_at, sla_due_at, tier, self.policy),
        )
