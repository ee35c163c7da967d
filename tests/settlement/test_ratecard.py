import pytest

from settlement.errors import (
    InvalidRateCard,
    RateCardVersionUsed,
    TiersNotContiguous,
    UnknownRegionInCard,
)
from settlement.ratecard import check_regions, check_unchanged, parse_rate_card

from .conftest import card_table


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
