"""The ``/customers/duplicates`` page: the open merge suggestions, side by side, for staff."""

import re

from fastapi.testclient import TestClient

from tests.api.customers.test_customers import Headers, post_ticket, ticket


def _suggest(client: TestClient, headers: Headers) -> tuple[int, int, int]:
    """Two tickets of one name 80 m apart under two phones: one suggestion (id, both ids)."""
    shop = headers["shop_a"]
    first = post_ticket(client, shop, ticket("D-1", {"name": "孙丽", "phone": "13511110001"}))
    second = post_ticket(
        client, shop, ticket("D-2", {"name": "孙丽", "phone": "13611110002"}, (121.4740, 31.2310))
    )
    items = client.get("/v1/customers/merge-suggestions", headers=shop).json()["items"]
    (suggestion,) = [s for s in items if s["customer"]["id"] == first["customer"]["id"]]
    return suggestion["id"], first["customer"]["id"], second["customer"]["id"]


def test_staff_see_each_open_pair_with_its_evidence_and_the_buttons(
    client: TestClient, headers: Headers
) -> None:
    suggestion, survivor, candidate = _suggest(client, headers)
    page = client.get("/customers/duplicates?lang=en", headers=headers["dispatcher"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    pair = page.text[page.text.index(f'id="suggestion-{suggestion}"') :]
    pair = pair[: pair.index('data-role="error"')]
    assert f'data-role="survivor" data-customer="{survivor}"' in pair
    assert f'data-role="candidate" data-customer="{candidate}"' in pair
    assert "Same name nearby" in pair and re.search(r"· addresses \d+ m", pair)
    assert "+8613511110001" in pair and "+8613611110002" in pair
    assert "Merge into</button>" not in pair and f"Merge into #{survivor}" in pair
    chinese = client.get("/customers/duplicates?lang=zh", headers=headers["admin"])
    assert "疑似重复客户" in chinese.text and "同名且地址相近" in chinese.text


def test_a_decided_pair_leaves_the_queue(client: TestClient, headers: Headers) -> None:
    suggestion, _, _ = _suggest(client, headers)
    accepted = client.post(
        f"/v1/customers/merge-suggestions/{suggestion}/accept", headers=headers["dispatcher"]
    )
    assert accepted.status_code == 200, accepted.text
    page = client.get("/customers/duplicates?lang=en", headers=headers["dispatcher"])
    assert f'id="suggestion-{suggestion}"' not in page.text


def test_the_page_is_for_staff_and_sends_strangers_to_sign_in(
    client: TestClient, headers: Headers
) -> None:
    for who in ("tech_a", "shop_a"):
        denied = client.get("/customers/duplicates", headers=headers[who])
        assert denied.status_code == 403 and "admin, dispatcher" in denied.text
    anonymous = client.get("/customers/duplicates", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=%2Fcustomers%2Fduplicates"
    bad = client.get("/customers/duplicates?cursor=" + "x" * 300, headers=headers["admin"])
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
