"""Device alarm rules, pure: each kind fires as documented, batches judge like single events,
and a broken rules file names the offending field."""

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.config import PROJECT_ROOT
from api.devices.rules import (
    Event,
    InvalidDeviceRules,
    ModelRules,
    evaluate,
    parse_rules,
    related_events,
)

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
MODEL: dict[str, Any] = {
    "model": "AC-3000", "product_line": "aircon", "metrics": ["temp_c", "kpa"],
    "rules": [
        {"kind": "threshold", "id": "hot", "metric": "temp_c", "above": 60, "below": -10},
        {"kind": "rate_of_change", "id": "leak", "metric": "kpa", "fall_per_min": 20,
         "within_min": 10},
        {"kind": "repeated_fault", "id": "fault", "fault_codes": ["E4", "E5"], "count": 3,
         "window_min": 10},
    ],
}  # fmt: skip


def model() -> ModelRules:
    return parse_rules({"id": "r", "version": 1, "models": [MODEL]}).models[0]


def reading(minutes: float, metric: str, value: float) -> Event:
    return Event("reading", T0 + timedelta(minutes=minutes), metric=metric, value=value)


def alarm(minutes: float, code: str) -> Event:
    return Event("alarm", T0 + timedelta(minutes=minutes), fault_code=code)


def keys(events: list[Event], history: list[Event] | None = None) -> list[list[str]]:
    return [[f.fault_key for f in fired] for fired in evaluate(model(), events, history or [])]


def test_a_threshold_fires_above_and_below_its_limits() -> None:
    events = [reading(0, "temp_c", 60), reading(1, "temp_c", 60.5), reading(2, "temp_c", -11)]
    assert keys(events) == [[], ["hot"], ["hot"]]
    (firing,) = evaluate(model(), events[1:2], [])[0]
    assert firing.reason == "temp_c 60.5 is above 60" and dict(firing.evidence)["value"] == 60.5


def test_a_rate_of_change_needs_a_recent_previous_reading() -> None:
    events = [reading(0, "kpa", 900), reading(2, "kpa", 850), reading(20, "kpa", 500)]
    # -25/min over two minutes fires; the third's previous reading is 18 minutes old: too old.
    assert keys(events) == [[], ["leak"], []]
    (firing,) = evaluate(model(), events[1:2], events[:1])[0]
    assert dict(firing.evidence)["per_min"] == -25


def test_repeated_faults_count_per_code_within_the_window() -> None:
    events = [alarm(0, "E4"), alarm(1, "E5"), alarm(2, "E4"), alarm(3, "E4"), alarm(4, "E9"),
              alarm(12, "E4"), alarm(12.5, "E4"), alarm(14, "E5")]  # fmt: skip
    # At 12 the window (2, 12] holds two E4s; at 12.5, three. E9 is not a code the rule watches.
    assert keys(events) == [[], [], [], ["fault:E4"], [], [], ["fault:E4"], []]


def test_a_batch_is_judged_in_time_order_like_single_events() -> None:
    events = [alarm(3, "E4"), alarm(1, "E4"), alarm(2, "E4")]
    assert keys(events) == [["fault:E4"], [], []]
    one_by_one = [keys([e], [x for x in events if x.occurred_at < e.occurred_at]) for e in events]
    assert [k[0] for k in one_by_one] == keys(events)


def test_related_events_are_the_latest_alike_up_to_the_firing() -> None:
    events = [alarm(i, "E4") for i in range(12)] + [alarm(5, "E5")]
    related = related_events(events, events[11], limit=3)
    assert [e.occurred_at for e in related] == [T0 + timedelta(minutes=m) for m in (9, 10, 11)]


def test_the_shipped_rules_load() -> None:
    with (PROJECT_ROOT / "data" / "device_rules.toml").open("rb") as handle:
        rules = parse_rules(tomllib.load(handle))
    assert rules.key == "device-rules@1" and rules.for_model("AC-3000") is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metrics": ["temp_c"]}, "models.0"),  # a rule watches kpa, not among the metrics
        ({"rules": [{"kind": "threshold", "id": "hot", "metric": "temp_c"}]},
         "models.0.rules.0.threshold"),
        ({"rules": [{"kind": "sometimes", "id": "x"}]}, "models.0.rules.0"),
        ({"rules": [{**MODEL["rules"][2], "count": 0}]}, "models.0.rules.0.repeated_fault.count"),
        ({"rules": [{**MODEL["rules"][0], "above": float("nan")}]},
         "models.0.rules.0.threshold.above"),
        ({"product_line": "Air Con"}, "models.0.product_line"),
    ],
)  # fmt: skip
def test_a_bad_rules_file_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidDeviceRules) as caught:
        parse_rules({"id": "r", "version": 1, "models": [MODEL | change]})
    assert caught.value.field == field and str(caught.value).startswith(field)
