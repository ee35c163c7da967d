"""Browser sessions: an API key signs in once, the cookie stands for it, changes need CSRF."""

import re
import time

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import revoke_key, utc_now
from api.browser_session import SessionSigner
from api.db.tables import ApiKeyRow


def _sign_in(client: TestClient, token: str, next_path: str = "") -> object:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    data = {"token": token, "csrf_token": csrf.group(1), "next": next_path}
    return client.post("/login", data=data, follow_redirects=False)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _csrf(client: TestClient) -> str:
    page = client.get("/map").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_signing_in_sets_a_strict_http_only_cookie(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    response = _sign_in(client, _token(headers["dispatcher"]), "/map?day=2026-12-04")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/map?day=2026-12-04"  # type: ignore[attr-defined]
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "gd_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert _token(headers["dispatcher"]) not in cookie
    assert client.get("/v1/map/kpis").status_code == 200  # the cookie stands for the key


def test_a_technician_lands_on_their_day_and_an_integrator_has_no_pages(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    landed = _sign_in(client, _token(headers["tech_a"]))
    assert landed.headers["location"] == "/me/today"  # type: ignore[attr-defined]
    client.cookies.clear()
    refused = _sign_in(client, _token(headers["shop_a"]))
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "gd_session" not in client.cookies


def test_a_wrong_key_or_a_stale_form_is_refused(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    assert _sign_in(client, "gd_nope").status_code == 401  # type: ignore[attr-defined]
    client.get("/login")
    stale = {"token": _token(headers["admin"]), "csrf_token": "forged"}
    assert client.post("/login", data=stale, follow_redirects=False).status_code == 403


def test_next_must_stay_on_this_site(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    for outside in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        client.cookies.clear()
        response = _sign_in(client, _token(headers["dispatcher"]), outside)
        assert response.headers["location"] == "/map"  # type: ignore[attr-defined]


def test_a_change_by_cookie_needs_the_csrf_token(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    _sign_in(client, _token(headers["dispatcher"]))
    body = {"pings": [{"location": [121.47, 31.23], "recorded_at": utc_now().isoformat()}]}
    refused = client.post("/v1/technicians/T-X/locations", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/v1/technicians/T-X/locations", json=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    passed = client.post(
        "/v1/technicians/T-X/locations", json=body, headers={"X-CSRF-Token": _csrf(client)}
    )
    assert passed.status_code == 404  # past the CSRF check: the technician does not exist


def test_a_revoked_key_ends_its_sessions(
    client: TestClient, headers: dict[str, dict[str, str]], session: Session
) -> None:
    client.app.state.settings.auth_cache_s = 0  # type: ignore[attr-defined]
    _sign_in(client, _token(headers["dispatcher"]))
    assert client.get("/v1/map/kpis").status_code == 200
    key = session.query(ApiKeyRow).filter_by(name="dispatcher").one()
    revoke_key(session, key_id=key.id, now=utc_now())
    client.app.state.principal_cache = None  # type: ignore[attr-defined]
    assert client.get("/v1/map/kpis").status_code == 401
    assert client.get("/map", follow_redirects=False).headers["location"].startswith("/login")


def test_a_session_expires_after_its_ttl() -> None:
    signer = SessionSigner("secret", ttl_s=1)
    cookie, session = signer.issue("key-1")
    assert signer.read(cookie) == session
    time.sleep(2.1)
    assert signer.read(cookie) is None


def test_forged_cookies_go_back_to_sign_in(client: TestClient) -> None:
    client.cookies.set("gd_session", "forged.cookie.value")
    response = client.get("/map", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fmap"
    assert 'gd_session=""' in response.headers["set-cookie"]  # forgotten
    signed_elsewhere = SessionSigner("another-secret", ttl_s=3600).issue("k")[0]
    client.cookies.set("gd_session", signed_elsewhere)
    assert client.get("/v1/map/kpis").status_code == 401


def test_sign_out_needs_the_page_form(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    _sign_in(client, _token(headers["dispatcher"]))
    assert client.post("/logout", data={"csrf_token": "x"}).status_code == 403
    out = client.post("/logout", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/v1/map/kpis").status_code == 401
