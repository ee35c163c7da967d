"""A lead's score, 0-100, as a list of explained lines that add up to it.

Six lines, each capped: channel quality (20), completeness (20), product line value (20),
repeat interest (15), service territory (10) and recency (15).  The caps sum to 100, so the
total needs no scaling and every point on the bill can be traced to one line.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from api.leads.rules.model import Channel, LeadFacts

CHANNEL_POINTS = MappingProxyType(
    {
        Channel.PARTNER: 20,
        Channel.WEB_FORM: 18,
        Channel.OFFLINE_EVENT: 15,
        Channel.API: 12,
        Channel.ADS: 10,
        Channel.SOCIAL: 8,
        Channel.CSV: 5,
    }
)
PRODUCT_LINE_POINTS = MappingProxyType(
    {
        "central_ac": 20,
        "floor_heating": 20,
        "water_heater": 14,
        "air_conditioner": 14,
        "water_purifier": 12,
        "kitchen_appliance": 10,
        "appliance_repair": 8,
        "cleaning": 6,
    }
)


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """Points per channel and product line, and the bands that make a lead hot or warm."""

    channel_points: Mapping[Channel, int] = field(default_factory=lambda: CHANNEL_POINTS)
    product_line_points: Mapping[str, int] = field(default_factory=lambda: PRODUCT_LINE_POINTS)
    unknown_product_line_points: int = 4
    hot_from: int = 70
    warm_from: int = 40

    def __post_init__(self) -> None:
        points = [*self.channel_points.values(), *self.product_line_points.values()]
        if any(not 0 <= p <= 20 for p in [*points, self.unknown_product_line_points]):
            raise ValueError("channel and product line points must lie in 0..20")
        if not 0 < self.warm_from < self.hot_from <= 100:
            raise ValueError("bands need 0 < warm_from < hot_from <= 100")


DEFAULT_SCORE = ScoreParams()


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One explained part of a score."""

    code: str
    label: str
    points: int
    max_points: int


@dataclass(frozen=True, slots=True)
class Score:
    """A total, its band (``hot``, ``warm``, ``cold``) and the lines that make it up."""

    total: int
    band: str
    lines: tuple[ScoreLine, ...]


def score_lead(facts: LeadFacts, *, now: datetime, params: ScoreParams = DEFAULT_SCORE) -> Score:
    """Score a cleaned lead at ``now``; the lines always add up to the total."""
    lines = (
        _channel(facts, params),
        _completeness(facts),
        _product_line(facts, params),
        _touches(facts),
        _territory(facts),
        _recency(facts, now),
    )
    total = sum(line.points for line in lines)
    band = "hot" if total >= params.hot_from else "warm" if total >= params.warm_from else "cold"
    return Score(total=total, band=band, lines=lines)


def _channel(facts: LeadFacts, params: ScoreParams) -> ScoreLine:
    points = params.channel_points.get(facts.channel, 0)
    return ScoreLine("channel", f"channel {facts.channel.value}", points, 20)


def _completeness(facts: LeadFacts) -> ScoreLine:
    parts = {"phone": 8, "location": 5, "e-mail": 4, "name": 3}
    present = {
        "phone": facts.has_phone,
        "location": facts.has_location,
        "e-mail": facts.has_email,
        "name": facts.has_name,
    }
    have = [part for part in parts if present[part]]
    label = f"completeness: {', '.join(have) or 'nothing'} given"
    return ScoreLine("completeness", label, sum(parts[p] for p in have), 20)


def _product_line(facts: LeadFacts, params: ScoreParams) -> ScoreLine:
    if facts.product_line is None:
        return ScoreLine("product_line", "product line not given", 0, 20)
    points = params.product_line_points.get(facts.product_line)
    if points is None:
        label = f"product line {facts.product_line} (not on the value list)"
        return ScoreLine("product_line", label, params.unknown_product_line_points, 20)
    return ScoreLine("product_line", f"product line {facts.product_line}", points, 20)


def _touches(facts: LeadFacts) -> ScoreLine:
    repeats = max(facts.touches - 1, 0)
    label = f"{facts.touches} touch{'es' if facts.touches != 1 else ''} (repeat interest)"
    return ScoreLine("touches", label, min(repeats, 3) * 5, 15)


def _territory(facts: LeadFacts) -> ScoreLine:
    if not facts.has_location:
        return ScoreLine("region", "no location given", 0, 10)
    if facts.region_id is None:
        return ScoreLine("region", "outside every service region", 0, 10)
    return ScoreLine("region", f"inside service region {facts.region_id}", 10, 10)


def _recency(facts: LeadFacts, now: datetime) -> ScoreLine:
    age = max(now - facts.last_touched_at, timedelta(0))
    for limit, points, text in (
        (timedelta(hours=1), 15, "within the hour"),
        (timedelta(days=1), 10, "within a day"),
        (timedelta(days=3), 5, "within three days"),
    ):
        if age <= limit:
            return ScoreLine("recency", f"last touch {text}", points, 15)
    return ScoreLine("recency", f"last touch {age.days} days ago", 0, 15)
