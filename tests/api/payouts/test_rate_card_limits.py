"""Rate cards off the hot path: each version is parsed once per process, and its size is capped.

A ticket that names difficulty flags or materials is checked against the cards in force; with
the cards parsed once and their documents left unread, a large card costs a ticket nothing.
"""

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.config import Settings
from api.rate_cards import repository as card_repo
from api.rate_cards.cache import ParsedCards
from settlement import InvalidRateCard, RateCard, parse_rate_card
from tests.api.payouts.support import CARD, CENTURY_AVENUE, upload

Headers = dict[str, dict[str, str]]
MAX_BYTES = 8 * 1024  # the test app's cap, so that oversized cards stay small
DIFFICULTY: dict[str, Any] = {"kind": "difficulty", "id": "difficulty", "flags": {
    "old_building": {"coefficient": "1.10", "label_zh": "老旧小区", "label_en": "old building"},
}}  # fmt: skip
TICKET = {"type": "repair", "location": list(CENTURY_AVENUE), "address": "世纪大道 1 号",
          "duration_min": 60, "difficulty": ["old_building"]}  # fmt: skip


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with a small cap on rate-card documents."""
    return settings.model_copy(update={"rate_card_max_bytes": MAX_BYTES})


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the cards parsed from here on (their ids, in order)."""
    parsed: list[str] = []

    def counted(table: Any) -> RateCard:
        parsed.append(str(table["id"]))
        return parse_rate_card(table)

    monkeypatch.setattr(card_repo, "parse_rate_card", counted)
    return parsed


def card_with(flags: int = 1, **changes: Any) -> dict[str, Any]:
    """The test card with a difficulty rule of ``flags`` flags (``old_building`` first)."""
    table = {**copy.deepcopy(CARD), **changes}
    difficulty = copy.deepcopy(DIFFICULTY)
    entry = difficulty["flags"]["old_building"]
    difficulty["flags"] |= {f"flag_{i:05d}": entry for i in range(1, flags)}
    table["rules"] = [*table["rules"], difficulty]
    return table


def post_tickets(client: TestClient, headers: Headers, n: int, prefix: str) -> list[int]:
    statuses = []
    for i in range(n):
        body = {**TICKET, "external_id": f"{prefix}-{i}"}
        statuses.append(client.post("/v1/tickets", json=body, headers=headers["shop_a"]))
    return [response.status_code for response in statuses]


def test_a_version_is_parsed_once_for_many_tickets(
    client: TestClient,
    headers: Headers,
    parses: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert upload(client, headers["admin"], card_with(flags=20)).status_code == 201
    assert post_tickets(client, headers, 25, "ONCE") == [201] * 25
    assert parses == ["test-sh"]  # at upload; the tickets found it parsed
    monkeypatch.setattr(card_repo, "_PARSED", ParsedCards(capacity=64))  # another process
    assert post_tickets(client, headers, 25, "AGAIN") == [201] * 25
    assert parses == ["test-sh", "test-sh"]  # once more, from the stored document, then cached


def test_a_replaced_version_is_not_served_from_the_cache(
    client: TestClient, headers: Headers
) -> None:
    assert upload(client, headers["admin"], card_with()).status_code == 201
    assert post_tickets(client, headers, 1, "BEFORE") == [201]
    replacement = card_with()
    replacement["rules"][-1]["flags"] = {"new_flag": DIFFICULTY["flags"]["old_building"]}
    replaced = upload(client, headers["admin"], replacement)
    assert replaced.status_code == 200 and replaced.json()["outcome"] == "replaced"
    assert post_tickets(client, headers, 1, "AFTER") == [422]  # old_building is gone


def stored(client: TestClient, headers: Headers) -> list[Any]:
    response = client.get("/v1/rate-cards", headers=headers["admin"])
    assert response.status_code == 200
    return list(response.json())


def test_a_document_over_the_byte_cap_is_413_and_nothing_is_stored(
    client: TestClient, headers: Headers
) -> None:
    small, large = card_with(flags=10), card_with(flags=200)
    assert len(json.dumps(small)) < MAX_BYTES < len(json.dumps(large))
    refused = upload(client, headers["admin"], large)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"field": "body", "max_bytes": MAX_BYTES}
    assert stored(client, headers) == []
    assert upload(client, headers["admin"], small).status_code == 201


OVERSIZED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "too many rules": (
        lambda t: t.update(
            rules=[
                {"kind": "urgency_bonus", "id": f"u{i}", "amount": "1.00"}
                for i in range(card_repo.MAX_RULES + 1)
            ]
        ),
        "rules",
    ),
    "too many entries in a table": (
        lambda t: t["rules"][1].update(
            coefficients={f"r{i}": "1.00" for i in range(card_repo.MAX_ENTRIES + 1)}
        ),
        "rules[1].coefficients",
    ),
    "too many tiers": (
        lambda t: t["rules"][2].update(
            tiers=[{"first_order": i + 1} for i in range(card_repo.MAX_ENTRIES + 1)]
        ),
        "rules[2].tiers",
    ),
}


@pytest.mark.parametrize(("change", "field"), OVERSIZED.values(), ids=OVERSIZED.keys())
def test_a_card_over_the_rule_or_entry_cap_is_refused_naming_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    table = copy.deepcopy(CARD)
    change(table)
    with pytest.raises(InvalidRateCard) as refused:
        card_repo.check_size(table)
    assert refused.value.details["field"] == field


def test_a_card_over_a_cap_is_422_over_http_and_nothing_is_stored(
    client: TestClient, headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(card_repo, "MAX_ENTRIES", 8)  # reached within the byte cap
    refused = upload(client, headers["admin"], card_with(flags=9))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_rate_card"
    assert error["details"]["field"] == "rules[6].flags"
    assert stored(client, headers) == []


@pytest.mark.parametrize(
    ("media_type", "document"),
    [("application/json", "[" * 5000), ("application/toml", "a = " + "[" * 5000)],
)
def test_a_deeply_nested_document_is_422_not_a_crash(
    client: TestClient, headers: Headers, media_type: str, document: str
) -> None:
    response = client.post("/v1/rate-cards", content=document.encode(),
                           headers={**headers["admin"], "Content-Type": media_type})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "card: nested too deeply"
    assert stored(client, headers) == []
