import math
from datetime import UTC, datetime, timedelta, timezone

import h3
import pytest

from geo.errors import InvalidCoordinates, InvalidParameter
from geo.heat import RegionHeat, heat_by_h3_cell, heat_by_region, window_mask

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=SHANGHAI)


def test_window_is_half_open_and_compares_across_time_zones() -> None:
    start, end = NOW - timedelta(minutes=30), NOW
    stamps = [
        start,  # inside: the window includes its start
        end,  # outside: ...and excludes its end
        datetime(2026, 11, 22, 0, 45, tzinfo=UTC),  # 08:45 in Shanghai: inside
        start - timedelta(microseconds=1),
    ]
    assert window_mask(stamps, start=start, end=end).tolist() == [True, False, True, False]
    assert window_mask([], start=start, end=end).tolist() == []


def test_window_rejects_naive_datetimes_and_empty_windows() -> None:
    naive = datetime(2026, 11, 22, 9, 0)
    with pytest.raises(InvalidParameter, match="start must be timezone-aware"):
        window_mask([], start=naive, end=NOW)
    with pytest.raises(InvalidParameter, match="start < end"):
        window_mask([], start=NOW, end=NOW)
    with pytest.raises(InvalidParameter, match="index 1") as caught:
        window_mask([NOW, naive], start=NOW - timedelta(hours=1), end=NOW)
    assert caught.value.details["index"] == 1


def test_heat_counts_demand_and_supply_per_region() -> None:
    heat = heat_by_region(["a", "a", "a", "b", None, "c"], ["a", "a", "c", "d", None])
    assert heat == {
        "a": RegionHeat("a", 3, 2, 1.5),
        "b": RegionHeat("b", 1, 0, math.inf),
        "c": RegionHeat("c", 1, 1, 1.0),
        "d": RegionHeat("d", 0, 1, 0.0),
    }
    assert heat_by_region([], []) == {}


def test_heat_by_h3_cell_groups_nearby_points() -> None:
    # Two orders a few metres apart share a cell; the third is 20 km away.
    demand_lons, demand_lats = [121.4737, 121.47372, 121.70], [31.2304, 31.23041, 31.20]
    heat = heat_by_h3_cell(demand_lons, demand_lats, [121.4737], [31.2304], resolution=9)
    centre = h3.latlng_to_cell(31.2304, 121.4737, 9)
    assert heat[centre] == RegionHeat(centre, 2, 1, 2.0)
    assert sorted(h.demand for h in heat.values()) == [1, 2]
    assert all(h3.is_valid_cell(cell) for cell in heat)


def test_heat_by_h3_cell_checks_its_input() -> None:
    with pytest.raises(InvalidParameter, match="resolution"):
        heat_by_h3_cell([121.0], [31.0], [], [], resolution=16)
    with pytest.raises(InvalidCoordinates):
        heat_by_h3_cell([121.0], [float("nan")], [], [], resolution=8)
