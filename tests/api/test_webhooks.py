"""``/v1/webhooks``: subscriptions, authorisation and the delivery log."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, dict[str, str]]
SUB = {"url": "https://shop-a.example.cn/hooks", "event_types": ["ticket.completed"]}


def subscribe(client: TestClient, headers: Headers, who: str = "shop_a", **body: Any) -> Any:
    response = client.post("/v1/webhooks", json={**SUB, **body}, headers=headers[who])
    assert response.status_code == 201, response.text
    return response.json()


def test_create_shows_a_generated_secret_once(client: TestClient, headers: Headers) -> None:
    created = subscribe(client, headers)
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["source"] == "shop-a" and created["is_active"] is True
    read = client.get(f"/v1/webhooks/{created['id']}", headers=headers["shop_a"]).json()
    assert "secret" not in read and read["event_types"] == ["ticket.completed"]
    listed = client.get("/v1/webhooks", headers=headers["shop_a"]).json()
    assert all("secret" not in item for item in listed)


def test_a_provided_secret_is_kept(client: TestClient, headers: Headers) -> None:
    assert subscribe(client, headers, secret="my-own-secret-1234")["secret"] == "my-own-secret-1234"


def test_update_and_delete(client: TestClient, headers: Headers) -> None:
    sub_id = subscribe(client, headers)["id"]
    url = f"/v1/webhooks/{sub_id}"
    patched = client.patch(url, json={"is_active": False, "event_types": ["ticket.*"]},
                           headers=headers["shop_a"])  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False and patched.json()["event_types"] == ["ticket.*"]
    assert patched.json()["url"] == SUB["url"]
    assert client.delete(url, headers=headers["shop_a"]).status_code == 204
    assert client.get(url, headers=headers["shop_a"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://shop-a.example.cn/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"event_types": ["ticket.exploded"]}, "event_types[0]"),
        ({"event_types": []}, "event_types"),
        ({"secret": "short"}, "secret"),
        ({"source": "shop-b"}, "source"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, headers: Headers, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/webhooks", json={**SUB, **body}, headers=headers["shop_a"])
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == field


def test_authorisation(client: TestClient, headers: Headers) -> None:
    sub_id = subscribe(client, headers)["id"]
    paths = [f"/v1/webhooks/{sub_id}", f"/v1/webhooks/{sub_id}/deliveries"]
    assert client.get("/v1/webhooks").status_code == 401
    for who in ("tech_a", "tech_b"):
        assert client.get("/v1/webhooks", headers=headers[who]).status_code == 403
        assert client.post("/v1/webhooks", json=SUB, headers=headers[who]).status_code == 403
        assert all(client.get(p, headers=headers[who]).status_code == 403 for p in paths)
    for who in ("admin", "dispatcher"):  # subscriptions belong to a source: staff only look
        assert client.post("/v1/webhooks", json=SUB, headers=headers[who]).status_code == 403
        assert all(client.get(p, headers=headers[who]).status_code == 200 for p in paths)
    assert all(client.get(p, headers=headers["shop_b"]).status_code == 404 for p in paths)
    assert client.patch(paths[0], json={"is_active": False},
                        headers=headers["shop_b"]).status_code == 404  # fmt: skip
    assert client.delete(paths[0], headers=headers["shop_b"]).status_code == 404
    assert client.get("/v1/webhooks", headers=headers["shop_b"]).json() == []
    assert len(client.get("/v1/webhooks", headers=headers["admin"]).json()) == 1


def test_deliveries_page_validates_its_cursor(client: TestClient, headers: Headers) -> None:
    sub_id = subscribe(client, headers)["id"]
    url = f"/v1/webhooks/{sub_id}/deliveries"
    empty = client.get(url, headers=headers["shop_a"])
    assert empty.status_code == 200 and empty.json() == {"items": [], "next_cursor": None}
    bad = client.get(url, params={"cursor": "x"}, headers=headers["shop_a"])
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "https://api.internal/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://168.63.129.16/machine",  # Azure's wire server looks public
        "http://0.0.0.0:8000/hook",
    ],
)
def test_private_and_loopback_urls_are_refused(
    client: TestClient, headers: Headers, url: str
) -> None:
    response = client.post("/v1/webhooks", json={**SUB, "url": url}, headers=headers["shop_a"])
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "url"
    sub_id = subscribe(client, headers)["id"]
    patched = client.patch(f"/v1/webhooks/{sub_id}", json={"url": url}, headers=headers["shop_a"])
    assert patched.status_code == 422


def test_subscriptions_per_source_are_limited(client: TestClient, headers: Headers) -> None:
    for _ in range(20):
        subscribe(client, headers)
    response = client.post("/v1/webhooks", json=SUB, headers=headers["shop_a"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_subscriptions"
    subscribe(client, headers, who="shop_b")  # another source has its own allowance
