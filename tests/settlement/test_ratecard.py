import tomllib
from pathlib import Path

import pytest

from settlement.errors import (
    InvalidRateCard,
    RateCardVersionUsed,
    TiersNotContiguous,
    UnknownRegionInCard,
)
from settlement.ratecard import (
    check_open_ended_tiers,
    check_regions,
    check_unchanged,
    parse_rate_card,
)

from .conftest import card_table

DEMO_CARD = Path(__file__).parents[2] / "data" / "rate_card.toml"


def rule(table, rule_id):
    return next(r for r in table["rules"] if r["id"] == rule_id)


def test_demo_sized_card_parses_in_application_order(card):
    assert [r.id for r in card.rules][:3] == ["base", "region", "difficulty"]
    assert card.version_label == "test-card@v1"
    assert card.volume_period == "month"


def test_application_order_is_data():
    table = card_table()
    table["rules"].insert(1, table["rules"].pop(8))  # urgency before the region coefficient
    assert [r.id for r in parse_rate_card(table).rules][:2] == ["base", "urgent"]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            [
                {"first_order": 1, "last_order": 5, "coefficient": "1"},
                {"first_order": 5, "coefficient": "1.1"},
            ],
            "volume: tier 1 overlaps tier 0",
        ),
        (
            [
                {"first_order": 1, "last_order": 5, "coefficient": "1"},
                {"first_order": 7, "coefficient": "1.1"},
            ],
            "volume: tier 1 leaves a gap after tier 0",
        ),
        ([{"first_order": 2, "coefficient": "1"}], "volume: the first tier must start at order 1"),
        (
            [{"first_order": 1, "coefficient": "1"}, {"first_order": 2, "coefficient": "1.1"}],
            "only the last tier may be open-ended",
        ),
    ],
)
def test_bad_volume_tiers_are_refused(tiers, message):
    table = card_table()
    rule(table, "volume")["tiers"] = tiers
    with pytest.raises(TiersNotContiguous, match=message):
        parse_rate_card(table)


def test_overlapping_surge_tiers_refused():
    table = card_table()
    rule(table, "surge")["tiers"][1]["from"] = "1.4"
    with pytest.raises(TiersNotContiguous, match="surge: tier 1 overlaps tier 0"):
        parse_rate_card(table)


def test_overlapping_time_windows_refused():
    table = card_table()
    rule(table, "hours")["windows"][0]["from"] = "05:00"  # overlaps the night 22:00-06:00
    with pytest.raises(TiersNotContiguous, match="hours: windows"):
        parse_rate_card(table)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("base", "fees", "repair", "fee"), "-1.00", "base.fees.repair: fee must be >= 0"),
        (
            ("region", "coefficients", "east"),
            1.1,
            "region: coefficients.east must be a quoted decimal",
        ),
        (("urgent", "amount"), "15.001", "urgent: amount must be finite with at most 2 decimals"),
        (("hours", "windows"), [{"from": "25:00"}], "hours.windows\\[0\\]: missing field"),
    ],
)
def test_bad_values_are_refused_naming_the_rule(path, value, message):
    table = card_table()
    target = rule(table, path[0])
    for key in path[1:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InvalidRateCard, match=message):
        parse_rate_card(table)


def test_unknown_currency_refused():
    with pytest.raises(InvalidRateCard, match="unknown currency 'RMB'"):
        parse_rate_card(card_table(currency="RMB"))


def test_unknown_field_refused():
    table = card_table()
    rule(table, "urgent")["amout"] = "1.00"
    with pytest.raises(InvalidRateCard, match="urgent: unknown field 'amout'"):
        parse_rate_card(table)


def test_unknown_kind_and_duplicate_ids_refused():
    table = card_table()
    table["rules"].append({"kind": "tips", "id": "tips"})
    with pytest.raises(InvalidRateCard, match="unknown rule kind 'tips'"):
        parse_rate_card(table)
    table = card_table()
    table["rules"].append({"kind": "urgency_bonus", "id": "urgent", "amount": "1.00"})
    with pytest.raises(InvalidRateCard, match="rule id 'urgent' is used twice"):
        parse_rate_card(table)


def test_outside_policy_must_be_declared():
    table = card_table()
    del rule(table, "region")["outside"]
    with pytest.raises(InvalidRateCard, match="region: missing field 'outside'"):
        parse_rate_card(table)


def test_indicator_weights_must_sum_to_one():
    table = card_table()
    rule(table, "region")["indicator_weights"]["wage"] = "0.6"
    with pytest.raises(InvalidRateCard, match="must sum to 1"):
        parse_rate_card(table)


def test_unknown_region_ids_refused_when_regions_given(card, regions):
    check_regions(card, [r.id for r in regions])
    with pytest.raises(UnknownRegionInCard, match="rule 'region' names unknown region id 'east'"):
        check_regions(card, ["west", "city", "berlin", "east-outer"])


def test_edit_of_a_used_version_refused(card):
    used = {("test-card", 1): card.content_hash}
    check_unchanged(card, used)  # the same content is fine
    edited = card_table()
    rule(edited, "urgent")["amount"] = "20.00"
    with pytest.raises(RateCardVersionUsed, match="test-card@v1 has already priced orders"):
        check_unchanged(parse_rate_card(edited), used)
    check_unchanged(parse_rate_card(card_table(version=2)), used)  # a new version is fine


def test_content_hash_ignores_key_order():
    table = card_table()
    reordered = dict(reversed(list(table.items())))
    assert parse_rate_card(table).content_hash == parse_rate_card(reordered).content_hash


@pytest.mark.parametrize(
    ("crossing", "message"),
    [
        ({"line": [[121.75, 30.9]]}, "at least two"),
        ({"line": [[121.75, 30.9], [200.0, 31.4]]}, "longitude at index 1 is out of range"),
        ({"line": [[121.75, 30.9], [121.75, 31.4]], "sides": [["west"], ["east"]]}, "exactly one"),
        ({"sides": [["west"], ["west"]]}, "disjoint"),
    ],
)
def test_bad_crossings_refused(crossing, message):
    table = card_table()
    entry = {"amount": "1.00", "label_zh": "过河", "label_en": "crossing"} | crossing
    rule(table, "crossing")["crossings"] = [entry]
    with pytest.raises(InvalidRateCard, match=message):
        parse_rate_card(table)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"beyond_km": 5}, "beyond_km", "far-locks: unknown field 'beyond_km'"),
        ({"amount": "-20.00"}, "amount", "far-locks: amount must be >= 0"),
        ({"amount": 20.0}, "amount", "far-locks: amount must be a quoted decimal"),
        ({"amount": "twenty"}, "amount", "far-locks: amount is not a decimal"),
        ({"amount": "20.005"}, "amount", "far-locks: amount must be finite with at most 2"),
        ({"beyond_m": -1}, "beyond_m", "far-locks: beyond_m must be an integer >= 0, got -1"),
        ({"beyond_m": 5000.5}, "beyond_m", "far-locks: beyond_m must be an integer >= 0"),
        ({"beyond_m": "5000"}, "beyond_m", "far-locks: beyond_m must be an integer >= 0"),
        ({"beyond_m": True}, "beyond_m", "far-locks: beyond_m must be an integer >= 0"),
        ({"service_types": []}, "service_types", "far-locks: service_types must be a non-empty"),
        ({"service_types": "lock_install"}, "service_types", "must be a non-empty list"),
        ({"service_types": ["lock_install"] * 2}, "service_types", "distinct service types"),
        ({"service_types": ["paint"]}, "service_types", "'paint' has no base fee in rule 'base'"),
        ({"label_zh": "远途"}, "label_en", "far-locks: give both label_zh and label_en"),
    ],
)
def test_bad_distance_supplement_refused_naming_rule_and_field(change, field, message):
    table = card_table()
    rule(table, "far-locks").update(change)
    with pytest.raises(InvalidRateCard, match=message) as caught:
        parse_rate_card(table)
    assert caught.value.details["rule"] == "far-locks"
    assert caught.value.details["field"] == field


def test_distance_supplement_needs_its_threshold_and_amount():
    for missing in ("beyond_m", "amount"):
        table = card_table()
        del rule(table, "far-locks")[missing]
        with pytest.raises(InvalidRateCard, match=f"far-locks: missing field '{missing}'"):
            parse_rate_card(table)


def test_distance_supplement_threshold_zero_and_labels_accepted():
    table = card_table()
    rule(table, "far-locks").update(beyond_m=0, label_zh="远途", label_en="far")
    parse_rate_card(table)


def test_open_ended_cards_pass_the_upload_check(card):
    check_open_ended_tiers(card)
    with DEMO_CARD.open("rb") as handle:
        check_open_ended_tiers(parse_rate_card(tomllib.load(handle)))


@pytest.mark.parametrize(
    ("rule_id", "tiers", "message", "field"),
    [
        (
            "volume",
            [
                {"first_order": 1, "last_order": 50, "coefficient": "1.00"},
                {"first_order": 51, "last_order": 100, "coefficient": "1.05"},
            ],
            "volume: the last tier \\(tier 1, orders 51-100\\) is closed, so no tier covers "
            "order 101; make the last tier open-ended: leave out its last_order, or add an "
            "open-ended tier from order 101",
            "tiers[1].last_order",
        ),
        (
            "surge",
            [{"from": "1.2", "until": "1.5", "percent": "5"}],
            "surge: the last tier \\(tier 0, ratios 1.2-1.5\\) is closed, so no tier covers a "
            "ratio of 1.5 or more; make the last tier open-ended: leave out its until",
            "tiers[0].until",
        ),
    ],
)
def test_closed_last_tier_parses_but_is_refused_for_upload(rule_id, tiers, message, field):
    table = card_table()
    rule(table, rule_id)["tiers"] = tiers
    card = parse_rate_card(table)  # a stored card like this still parses and settles
    with pytest.raises(TiersNotContiguous, match=message) as caught:
        check_open_ended_tiers(card)
    assert caught.value.code == "tiers_not_contiguous"
    assert caught.value.details == {"rule": rule_id, "tier": len(tiers) - 1, "field": field}
