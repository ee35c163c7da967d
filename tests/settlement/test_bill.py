"""The customer's bill: price lists refused with the field named, bills line by line, totals."""

import copy
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.bill import BillFacts, PriceListNotInForce, UnpricedItem, price_bill
from settlement.errors import InvalidOrder
from settlement.money import round_half_up_fen
from settlement.price_list import InvalidPriceList, PriceList, parse_price_list

# 2026-03-10 10:00 in Shanghai (a Tuesday, inside the demo list's year, outside night hours).
DAYTIME = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The demo price list (``data/price_list.toml``) as its plain table."""
    with (Path(__file__).parents[2] / "data" / "price_list.toml").open("rb") as file:
        return tomllib.load(file)


@pytest.fixture(scope="module")
def price_list(document: dict[str, Any]) -> PriceList:
    return parse_price_list(document)


def facts(**overrides: Any) -> BillFacts:
    """A daytime repair, one unit, a 3 km trip, normal priority, no parts."""
    values: dict[str, Any] = {"ticket_id": "7", "ticket_type": "repair", "service_at": DAYTIME}
    return BillFacts(**{**values, "travel_m": 3000, **overrides})


def amounts(lines: Any) -> list[tuple[str, str]]:
    return [(line.code, str(line.amount.amount)) for line in lines]


def test_a_plain_repair_is_labour_and_a_free_travel_band(price_list: PriceList) -> None:
    bill = price_bill(facts(), price_list, None)
    assert amounts(bill.lines) == [("labour", "150.00"), ("travel", "0.00")]
    assert bill.lines[1].basis_en == "3 km trip, band up to 5 km"
    assert bill.total.amount == Decimal("150.00") and bill.total.currency == "CNY"
    assert bill.price_list_version == "sh-sz-customer@v2"


def test_every_rule_at_once_explained_line_by_line(price_list: PriceList) -> None:
    job = facts(
        ticket_type="install", units=3, travel_m=23_400, priority="urgent", service_at=NIGHT,
        materials=(("copper_pipe_m", 4), ("refrigerant_kg", 1), ("copper_pipe_m", 1)),
    )  # fmt: skip
    bill = price_bill(job, price_list, "A")
    assert amounts(bill.lines) == [
        ("labour", "180.00"),
        ("labour_extra_units", "240.00"),  # 2 x 120.00
        ("travel", "40.00"),  # 15-30 km band
        ("distance_supplement", "30.00"),  # installation beyond 20 km
        ("urgency", "84.00"),  # 20 % of labour 420.00
        ("after_hours", "126.00"),  # 21:30 is in 20:00-08:00: 30 % of labour
        ("discount", "-70.00"),  # tier A: 10 % off services 700.00
        ("part", "140.00"),  # 5 m of copper pipe (two entries) x 28.00
        ("part", "65.00"),
    ]
    assert bill.total.amount == Decimal("835.00")
    by_code = {line.code: line for line in bill.lines}
    assert by_code["urgency"].basis_en == "urgent ticket: 20% of labour 420.00 CNY"
    assert by_code["discount"].basis_en == "customer tier A: 10% off services 700.00 CNY"
    assert by_code["travel"].rule_id == "travel.bands[2]"
    assert by_code["distance_supplement"].rule_id == "far-install"
    assert by_code["after_hours"].basis_zh.startswith("21:30 开始服务")


@pytest.mark.parametrize(
    ("travel_m", "band"),
    [(0, 0), (5000, 0), (5001, 1), (15_000, 1), (15_001, 2), (30_001, 3), (900_000, 3)],
)
def test_a_band_covers_trips_longer_than_its_start_up_to_its_end(
    price_list: PriceList, travel_m: int, band: int
) -> None:
    (travel,) = [line for line in price_bill(facts(travel_m=travel_m), price_list, None).lines
                 if line.code == "travel"]  # fmt: skip
    assert travel.rule_id == f"travel.bands[{band}]"


def test_the_supplement_starts_one_metre_beyond_its_threshold(price_list: PriceList) -> None:
    at = price_bill(facts(ticket_type="install", travel_m=20_000), price_list, None)
    beyond = price_bill(facts(ticket_type="install", travel_m=20_001), price_list, None)
    repair = price_bill(facts(travel_m=40_000), price_list, None)  # not an installation
    assert "distance_supplement" not in {line.code for line in at.lines}
    assert "distance_supplement" in {line.code for line in beyond.lines}
    assert "distance_supplement" not in {line.code for line in repair.lines}


def test_after_hours_windows_are_half_open_in_the_lists_zone(price_list: PriceList) -> None:
    eight = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # 08:00 Shanghai: the window has ended
    eight_pm = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 20:00 Shanghai: it has begun
    assert "after_hours" not in {
        c for c, _ in amounts(price_bill(facts(service_at=eight), price_list, None).lines)
    }
    assert "after_hours" in {
        c for c, _ in amounts(price_bill(facts(service_at=eight_pm), price_list, None).lines)
    }


def test_a_flat_surcharge_and_a_tier_without_a_discount(price_list: PriceList) -> None:
    bill = price_bill(facts(priority="emergency"), price_list, "C")
    assert amounts(bill.lines) == [("labour", "150.00"), ("travel", "0.00"), ("urgency", "80.00")]


def test_percent_lines_round_half_up_once_per_line(document: dict[str, Any]) -> None:
    table = copy.deepcopy(document)
    table["labour"]["repair"]["unit_price"] = "0.05"
    table["discounts"]["A"]["percent"] = "10"
    bill = price_bill(facts(), parse_price_list(table), "A")
    # 10 % of 0.05 is 0.005: half a fen, rounded away from zero to -0.01
    assert amounts(bill.lines)[-1] == ("discount", "-0.01")
    assert bill.total.amount == Decimal("0.04")


@pytest.mark.parametrize(
    ("job", "field"),
    [
        (facts(ticket_type="gardening"), "type"),
        (facts(materials=(("gold_tap", 1),)), "materials"),
    ],
)
def test_what_the_list_does_not_price_is_refused(
    price_list: PriceList, job: BillFacts, field: str
) -> None:
    with pytest.raises(UnpricedItem) as caught:
        price_bill(job, price_list, None)
    assert caught.value.details["field"] == field


def test_a_service_outside_the_lists_period_or_an_unknown_tier_is_refused(
    price_list: PriceList,
) -> None:
    with pytest.raises(PriceListNotInForce):
        price_bill(facts(service_at=datetime(2025, 12, 31, 15, tzinfo=UTC)), price_list, None)
    with pytest.raises(InvalidOrder, match="tier"):
        price_bill(facts(), price_list, "D")


BAD_FACTS: list[tuple[dict[str, Any], str]] = [
    ({"units": 0}, "units"),
    ({"travel_m": -1}, "travel_m"),
    ({"service_at": datetime(2026, 3, 10)}, "service_at"),
    ({"materials": (("copper_pipe_m", 0),)}, "materials"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_FACTS)
def test_bad_facts_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        facts(**overrides)
    assert caught.value.details["field"] == field


def _edited(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``document`` with ``path`` (dots; ``[i]`` for a list) set to ``value``;
    ``None`` removes the key."""
    table = copy.deepcopy(document)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node: Any = table
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is None:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return table


BAD = [
    ("currency", "RMB", "currency", "unknown currency"),
    ("labour.repair.unit_price", "-1.00", "unit_price", "negative"),
    ("labour.repair.unit_price", 1.5, "unit_price", "quoted decimal"),
    ("travel.bands[1].from_m", 4000, "travel.bands[1].from_m", "overlaps it"),
    ("travel.bands[1].from_m", 6000, "travel.bands[1].from_m", "leaves a gap"),
    ("travel.bands[0].from_m", 100, "travel.bands[0].from_m", "start at from_m = 0"),
    ("travel.bands[3]", {"from_m": 30000, "until_m": 90000, "price": "60.00"},
     "travel.bands[3].until_m", "no price"),
    ("travel.bands[2]", {"from_m": 15000, "price": "40.00"}, "travel.bands[3].from_m",
     "open-ended"),
    ("discounts.A.percent", "100.5", "percent", "at most 100"),
    ("discounts.D", {"percent": "5", "label_zh": "D", "label_en": "D"}, "discounts", "tier"),
    ("urgency.normal", {"percent": "5", "label_zh": "x", "label_en": "x"}, "urgency", "priority"),
    ("urgency.urgent.amount", "10.00", "percent", "exactly one"),
    ("after_hours[0].from", "7pm", "from", "HH:MM"),
    ("supplements[0].service_types", ["gardening"], "service_types", "no labour price"),
    ("supplements[0].beyond_m", -5, "beyond_m", "integer >= 0"),
    ("parts.copper_pipe_m.colour", "red", "colour", "unknown field"),
    ("effective_until", "2025-01-01", "effective_until", "after effective_from"),
    ("time_zone", "Mars/Olympus", "time_zone", "unknown time zone"),
    ("labour", None, "labour", "missing field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "field", "message"), BAD, ids=[b[0] + "=" + str(b[1]) for b in BAD]
)
def test_a_bad_price_list_is_refused_naming_the_field(
    document: dict[str, Any], path: str, value: Any, field: str, message: str
) -> None:
    with pytest.raises(InvalidPriceList, match=message) as caught:
        parse_price_list(_edited(document, path, value))
    assert caught.value.details["field"] == field
    assert caught.value.code == "invalid_price_list"


def test_overlapping_after_hours_windows_are_refused(document: dict[str, Any]) -> None:
    early = {
        "from": "06:00",
        "until": "09:00",
        "percent": "10",
        "label_zh": "早",
        "label_en": "early",
    }
    table = _edited(document, "after_hours", [*document["after_hours"], early])
    with pytest.raises(InvalidPriceList, match=r"after_hours\[1\]: overlaps after_hours\[0\]"):
        parse_price_list(table)


@given(
    ticket_type=st.sampled_from(["install", "repair", "maintenance", "smart_lock_install"]),
    units=st.integers(1, 50),
    travel_m=st.integers(0, 200_000),
    priority=st.sampled_from(["normal", "urgent", "emergency"]),
    minute_of_day=st.integers(0, 24 * 60 - 1),
    tier=st.sampled_from([None, "A", "B", "C"]),
    materials=st.lists(
        st.tuples(
            st.sampled_from(["refrigerant_kg", "copper_pipe_m", "customer_supplied_part"]),
            st.integers(1, 1000),
        ),
        max_size=4,
    ),
    price_cents=st.integers(0, 10**7),
)
def test_every_line_rechecks_and_the_total_is_the_sum_of_the_lines(
    document: dict[str, Any], ticket_type: str, units: int, travel_m: int, priority: str,
    minute_of_day: int, tier: str | None, materials: list[tuple[str, int]], price_cents: int,
) -> None:  # fmt: skip
    table = _edited(
        document, f"labour.{ticket_type}.unit_price", f"{Decimal(price_cents).scaleb(-2)}"
    )
    service_at = datetime(2026, 6, 1, tzinfo=UTC).replace(
        hour=minute_of_day // 60, minute=minute_of_day % 60
    )
    job = facts(ticket_type=ticket_type, units=units, travel_m=travel_m, priority=priority,
                service_at=service_at, materials=tuple(materials))  # fmt: skip
    bill = price_bill(job, parse_price_list(table), tier)
    for line in bill.lines:
        assert line.amount.amount == round_half_up_fen(line.quantity * line.rate)
        assert line.amount.currency == "CNY"
    assert bill.total.amount == sum(line.amount.amount for line in bill.lines)
    assert bill.total.amount >= 0
