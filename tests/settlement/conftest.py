"""Fixtures for settlement tests: a tiny hand-built region set and a card using every rule kind.

Regions (axis-aligned boxes, lon/lat degrees):

- ``city`` 121.0-122.0 x 30.9-31.6, level city (Asia/Shanghai);
- ``east`` 121.5-122.0 x 30.9-31.4, a district of ``city`` (priority 10);
- ``east-outer`` 121.7-122.0 x 30.9-31.4, a zone inside ``east`` (priority 20);
- ``west`` 121.0-121.5 x 30.9-31.4, a district of ``city`` sharing the 121.5 edge with ``east``;
- ``berlin`` 13.0-13.8 x 52.3-52.7, a city in Europe/Berlin (a zone with DST).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shapely.geometry import box

from geo.regions import Region, RegionIndex
from settlement.order import CompletedOrder
from settlement.ratecard import RateCard, parse_rate_card


def _region(id_: str, bounds: tuple[float, float, float, float], **kw: Any) -> Region:
    return Region(
        id=id_,
        name_zh=kw.pop("name_zh", id_ + "区"),
        name_en=kw.pop("name_en", id_.title()),
        level=kw.pop("level", "district"),
        geometry=box(*bounds),
        **kw,
    )


@pytest.fixture(scope="session")
def regions() -> RegionIndex:
    """The five hand-built regions described in the module docstring."""
    return RegionIndex(
        [
            _region("city", (121.0, 30.9, 122.0, 31.6), level="city"),
            _region("east", (121.5, 30.9, 122.0, 31.4), priority=10, parent_id="city"),
            _region(
                "east-outer",
                (121.7, 30.9, 122.0, 31.4),
                level="zone",
                priority=20,
                parent_id="east",
                name_zh="东区外环外",
                name_en="East, outside the outer ring",
            ),
            _region("west", (121.0, 30.9, 121.5, 31.4), priority=10, parent_id="city"),
            _region(
                "berlin",
                (13.0, 52.3, 13.8, 52.7),
                level="city",
                attributes={"time_zone": "Europe/Berlin"},
            ),
        ]
    )


def card_table(**overrides: Any) -> dict[str, Any]:
    """A card table using every rule kind (small numbers, easy to check by hand)."""
    rules: list[dict[str, Any]] = [
        {
            "kind": "base_fee",
            "id": "base",
            "fees": {
                "repair": {"fee": "80.00", "label_zh": "维修", "label_en": "repair"},
                "lock_install": {
                    "fee": "60.00",
                    "unit_fee": "30.00",
                    "label_zh": "装锁",
                    "label_en": "lock installation",
                },
            },
        },
        {
            "kind": "region_coefficient",
            "id": "region",
            "outside": "fallback",
            "fallback_coefficient": "1.00",
            "coefficients": {"east": "1.10", "east-outer": "1.20", "west": "1.30", "city": "1.05"},
            "indicator_weights": {"wage": "0.5", "traffic": "0.5"},
            "indicators": {"berlin": {"wage": "1.10", "traffic": "1.30"}},
        },
        {
            "kind": "difficulty",
            "id": "difficulty",
            "service_types": {
                "lock_install": {"coefficient": "1.05", "label_zh": "装锁", "label_en": "locks"}
            },
            "flags": {
                "no_lift": {"coefficient": "1.2", "label_zh": "高层无电梯", "label_en": "no lift"}
            },
        },
        {
            "kind": "time_of_day",
            "id": "hours",
            "windows": [
                {
                    "from": "06:00",
                    "until": "08:00",
                    "coefficient": "1.3",
                    "label_zh": "清晨",
                    "label_en": "early morning",
                },
                {
                    "from": "22:00",
                    "until": "06:00",
                    "coefficient": "1.5",
                    "label_zh": "夜间",
                    "label_en": "night",
                },
            ],
        },
        {
            "kind": "calendar",
            "id": "calendar",
            "weekend_coefficient": "1.1",
            "holiday_coefficient": "2.0",
            "holidays": ["2026-10-01"],
            "working_days": ["2026-10-10"],
        },
        {
            "kind": "seasonal",
            "id": "season",
            "periods": [
                {
                    "from": "2026-07-01",
                    "until": "2026-08-31",
                    "regions": ["east"],
                    "subsidy": "5.00",
                    "label_zh": "高温补贴",
                    "label_en": "heat subsidy",
                },
                {
                    "from": "2026-06-15",
                    "until": "2026-07-10",
                    "coefficient": "0.95",
                    "label_zh": "梅雨季",
                    "label_en": "rainy season",
                },
            ],
        },
        {
            "kind": "surge",
            "id": "surge",
            "tiers": [
                {"from": "1.2", "until": "1.5", "percent": "5"},
                {"from": "1.5", "until": "2.0", "percent": "10"},
                {"from": "2.0", "percent": "20"},
            ],
        },
        {
            "kind": "volume_tier",
            "id": "volume",
            "period": "month",
            "tiers": [
                {"first_order": 1, "last_order": 2, "coefficient": "1.00"},
                {"first_order": 3, "last_order": 4, "coefficient": "1.05"},
                {"first_order": 5, "coefficient": "1.10"},
            ],
        },
        {"kind": "urgency_bonus", "id": "urgent", "amount": "15.00"},
        {"kind": "distance_subsidy", "id": "distance", "free_radius_m": 3000, "per_km": "0.80"},
        {
            "kind": "distance_supplement",
            "id": "far-locks",
            "beyond_m": 5000,
            "amount": "20.00",
            "service_types": ["lock_install"],
        },
        {
            "kind": "crossing_subsidy",
            "id": "crossing",
            "crossings": [
                {
                    "sides": [["west"], ["east"]],
                    "amount": "8.00",
                    "label_zh": "过江补贴",
                    "label_en": "river crossing",
                },
                {
                    "line": [[121.75, 30.9], [121.75, 31.4]],
                    "amount": "3.00",
                    "label_zh": "过河补贴",
                    "label_en": "creek crossing",
                },
            ],
        },
        {"kind": "review_bonus", "id": "review", "by_rating": {"5": "5.00", "4": "2.00"}},
        {
            "kind": "material_deduction",
            "id": "materials",
            "materials": {"filter": {"price": "12.50", "label_zh": "滤网", "label_en": "filter"}},
        },
    ]
    table: dict[str, Any] = {
        "id": "test-card",
        "version": 1,
        "currency": "CNY",
        "effective_from": "2026-01-01",
        "effective_until": "2027-01-01",
        "time_zone": "Asia/Shanghai",
        "rules": rules,
    }
    table.update(overrides)
    return table


@pytest.fixture(scope="session")
def card() -> RateCard:
    """The every-rule card of :func:`card_table`."""
    return parse_rate_card(card_table())


@pytest.fixture
def make_order() -> Callable[..., CompletedOrder]:
    """Builder of a dull order in ``west`` on a weekday noon; override any field."""

    def make(**overrides: Any) -> CompletedOrder:
        fields: dict[str, Any] = {
            "order_id": "o1",
            "technician_id": "t1",
            "service_type": "repair",
            "service_at": datetime(2026, 11, 18, 4, 0, tzinfo=UTC),  # Wed 12:00 Shanghai
            "lon": 121.2,
            "lat": 31.2,
        }
        fields.update(overrides)
        return CompletedOrder(**fields)

    return make
