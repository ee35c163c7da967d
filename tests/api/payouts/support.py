"""Shared values for the rate-card, settlement and earnings tests: places, a small card.

Places (demo city, WGS84):

- ``CENTURY_AVENUE`` 世纪大道, Pudong (district ``310115``, coefficient 1.10 in the card);
- ``TANGZHEN`` 唐镇, Pudong outside the outer ring (zone ``zone-pudong-outer``, 1.20);
- ``NANJING_ROAD`` 南京东路, Huangpu (``310101``, not priced: the fallback 1.00).

T-A's home base is at Century Avenue, T-B's on Nanjing Road.
"""

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

CENTURY_AVENUE = (121.522511, 31.230694)
TANGZHEN = (121.651867, 31.21638)
NANJING_ROAD = (121.48015, 31.240254)
# Monday 2026-11-16 10:00 in Shanghai.
MONDAY_10H = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)

CARD: dict[str, Any] = {
    "id": "test-sh",
    "version": 1,
    "currency": "CNY",
    "effective_from": "2026-01-01",
    "time_zone": "Asia/Shanghai",
    "rules": [
        {
            "kind": "base_fee",
            "id": "base",
            "fees": {
                "repair": {"fee": "80.00", "label_zh": "维修", "label_en": "repair"},
                "install": {"fee": "120.00", "label_zh": "安装", "label_en": "installation"},
            },
        },
        {
            "kind": "region_coefficient",
            "id": "region",
            "outside": "fallback",
            "fallback_coefficient": "1.00",
            "coefficients": {"310115": "1.10", "zone-pudong-outer": "1.20"},
        },
        {
            "kind": "volume_tier",
            "id": "volume",
            "period": "month",
            "tiers": [
                {"first_order": 1, "last_order": 1, "coefficient": "1.00"},
                {"first_order": 2, "coefficient": "1.10"},
            ],
        },
        {
            "kind": "surge",
            "id": "surge",
            "tiers": [{"from": "2", "until": "3", "percent": "10"}, {"from": "3", "percent": "20"}],
        },
        {"kind": "urgency_bonus", "id": "urgent", "amount": "15.00"},
        {"kind": "distance_subsidy", "id": "distance", "free_radius_m": 3000, "per_km": "0.80"},
    ],
}


def card(**overrides: Any) -> dict[str, Any]:
    """Return a copy of ``CARD`` with top-level fields replaced."""
    table = copy.deepcopy(CARD)
    table.update(overrides)
    return table


def upload(client: TestClient, headers: dict[str, str], table: dict[str, Any]) -> Any:
    """POST a card as JSON; return the response."""
    return client.post("/v1/rate-cards", json=table, headers=headers)


#: ``finish_job(**kw) -> ticket id`` (the fixture of the same name).
FinishJob = Callable[..., int]
