"""A technician works an installation's checklist from the phone, photos and all, then finishes.

A job of T-1's of its own, two days after the seeded day (kept out of the other tests' views):
an air-conditioner installation, whose procedure gates completion.
"""

import base64
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

from api.demo.client import DEMO_PHOTO
from tests.browser.conftest import screenshot, sign_in
from tests.browser.world import World, local


def test_the_checklist_is_worked_on_the_phone_before_the_job_is_done(
    phone: Page, world: World, live_url: str, tmp_path: Path
) -> None:
    day = world.day + timedelta(days=2)
    staff = world.headers("dispatcher")
    body = {
        "external_id": "ME-PROCEDURE-1", "type": "install", "location": [121.47, 31.23],
        "address": "上海市黄浦区安装路 8 号", "duration_min": 90, "skills": {"aircon": 2},
        "time_windows": [[local(day, 9), local(day, 12)]],
    }  # fmt: skip
    with httpx.Client(base_url=live_url, timeout=30) as client:
        created = client.post("/v1/tickets", json=body, headers=staff)
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        for move in ({"to": "scheduled", "technician_id": "T-1"}, {"to": "dispatched"}):
            moved = client.post(f"/v1/tickets/{ticket_id}/transitions", json=move, headers=staff)
            assert moved.status_code == 200, moved.text
    photo = tmp_path / "bracket.png"
    photo.write_bytes(base64.b64decode(DEMO_PHOTO["photo_base64"]))

    sign_in(phone, world.tokens["T-1"], quote(f"/me/today?day={day}", safe=""))
    stop = phone.locator(f"#stop-{ticket_id}")
    for to in ("en_route", "on_site"):
        stop.locator(f"button[data-to={to}]").click()
        expect(stop).to_have_attribute("data-status", to)
    phone.reload()  # arrived: the procedure opens by itself
    procedure = stop.locator("[data-role=procedure]")
    expect(procedure).to_have_attribute("open", "")
    expect(procedure.locator(".safety li").first).to_contain_text("安全带")
    left = procedure.locator("[data-role=procedure-left]")
    expect(left).to_have_text("8 项待完成")

    stop.locator("button[data-to=completed]").click()  # too early: the page says what is left
    alert = stop.locator("[data-role=error]")
    expect(alert).to_contain_text("not ticked")
    expect(stop).to_have_attribute("data-status", "on_site")

    boxes = procedure.locator("input[data-item]")
    for n in range(boxes.count()):
        box = boxes.nth(n)
        if box.get_attribute("data-item") == "part:insulation-tape":
            continue  # optional
        if box.get_attribute("data-photo") == "yes":
            with phone.expect_file_chooser() as chooser:
                box.click()
            chooser.value.set_files(str(photo))
        else:
            box.click()
        expect(box).to_be_checked()
    expect(left).to_have_text("已全部完成")
    expect(procedure.locator("[data-role=photo-state]").first).to_have_text("已拍照")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width} px)"
    phone.evaluate("window.scrollTo(0, 0)")  # the sticky bar back on top
    screenshot(phone, "me-procedure-phone")

    stop.locator("button[data-to=completed]").click()
    expect(stop).to_have_attribute("data-status", "completed")
    with httpx.Client(base_url=live_url, timeout=30) as client:
        shown = client.get(f"/v1/tickets/{ticket_id}/procedure", headers=staff).json()
        taken = client.get(f"/v1/tickets/{ticket_id}/checklist/vacuum/photo", headers=staff)
    assert shown["missing"] == [] and taken.headers["content-type"] == "image/jpeg"
    refused = "the server responded with a status of 409"  # the early "work done", on purpose
    assert [e for e in phone.errors if refused not in e] == []  # type: ignore[attr-defined]
