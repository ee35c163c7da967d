"""The four reports on the hand-counted fortnight of ``world.py``, on both databases."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.db.tables import LeadRow
from api.reports import service
from api.reports.rules import Period
from tests.api.reports.world import NOW, PERIOD, ReportWorld, local

Headers = dict[str, dict[str, str]]
RANGE = {"first": "2026-11-30", "last": "2026-12-13"}


def test_the_funnel_counts_each_lead_at_the_stages_it_reached(
    session: Session, report_world: ReportWorld
) -> None:
    report = service.lead_funnel(session, period=PERIOD)
    rows = {(r.week, r.channel): r for r in report.rows}
    assert rows.keys() == {("2026-W49", "web_form"), ("2026-W50", "ads")}
    web = rows["2026-W49", "web_form"]  # lead 1 is a Sunday in UTC, a Monday in Shanghai
    assert (web.received, web.junk, web.contacted, web.qualified, web.converted) == (3, 1, 2, 2, 1)
    assert web.week_start == date(2026, 11, 30) and web.conversion_rate == 0.5
    ads = rows["2026-W50", "ads"]
    assert (ads.received, ads.junk, ads.contacted, ads.qualified, ads.converted) == (2, 0, 1, 0, 0)
    assert report.totals.received == 5 and report.totals.converted == 1
    assert [c.channel for c in report.channels] == ["ads", "web_form"]


def test_sla_counts_deadlines_met_missed_and_open_per_region(
    session: Session, report_world: ReportWorld
) -> None:
    report = service.sla(session, period=PERIOD, now=NOW)
    rows = {r.region_id: r for r in report.rows}
    a, b = rows["zone-a"], rows["zone-b"]
    assert (a.first_response.on_time, a.first_response.late) == (1, 0)  # lead 2 owes nothing
    assert a.first_response.median_min == 30
    assert (b.first_response.on_time, b.first_response.late, b.first_response.open) == (0, 2, 0)
    assert b.first_response.median_min == b.first_response.p90_min == 180
    res = a.resolution
    assert (res.on_time, res.late, res.open, res.on_time_rate) == (2, 2, 0, 0.5)
    # Nearest rank of 60, 240, 360 minutes: median rank 2, 90th percentile rank 3.
    assert (res.median_min, res.p90_min) == (240, 360)
    assert b.resolution.counted == 0  # T4 is cancelled
    assert report.totals.first_response.late == 2 and report.totals.resolution.counted == 4


def test_a_deadline_still_ahead_is_open(session: Session, report_world: ReportWorld) -> None:
    before_t3_is_due = local(12, 3, 12)
    report = service.sla(session, period=PERIOD, now=before_t3_is_due)
    resolution = next(r for r in report.rows if r.region_id == "zone-a").resolution
    assert (resolution.on_time, resolution.late, resolution.open) == (2, 1, 1)


def test_cost_sums_the_standing_settlements_by_component(
    session: Session, report_world: ReportWorld
) -> None:
    report = service.cost(session, period=PERIOD)
    rows = {r.region_id: r for r in report.rows}
    a = rows["zone-a"]
    assert a.orders == 2 and a.pay.amount == Decimal("186.00") and a.pay.currency == "CNY"
    assert a.pay_per_order is not None and a.pay_per_order.amount == Decimal("93.00")
    parts = {c.code: c.amount.amount for c in a.components}
    assert parts == {"base_fee": Decimal("160.00"), "region_coefficient": Decimal("16.00"),
                     "urgency": Decimal("10.00")}  # fmt: skip
    assert sum(parts.values()) == a.pay.amount
    assert rows[None].orders == 1 and rows[None].pay.amount == Decimal("50.00")
    (total,) = report.totals
    assert total.orders == 3 and total.pay.amount == Decimal("236.00")


def test_cost_sets_the_bills_against_the_pay_of_the_same_orders(
    session: Session, report_world: ReportWorld
) -> None:
    report = service.cost(session, period=PERIOD)
    rows = {r.region_id: r for r in report.rows}
    a = rows["zone-a"]  # bills 150.00 and 140.00 (the superseded settlement's is not counted)
    assert a.billed_orders == 2 and a.billed is not None and a.billed.amount == Decimal("290.00")
    assert a.margin is not None and a.margin.amount == Decimal("104.00")  # 290.00 - 186.00
    assert a.margin_per_order is not None and a.margin_per_order.amount == Decimal("52.00")
    unbilled = rows[None]  # settled before any price list could price it
    assert unbilled.billed_orders == 0 and unbilled.billed is None and unbilled.margin is None
    (total,) = report.totals
    assert total.billed_orders == 2 and total.margin is not None
    assert total.margin.amount == Decimal("104.00")  # the unbilled order's pay is left out


def test_utilisation_sets_visits_against_shifts(
    session: Session, report_world: ReportWorld
) -> None:
    by_day = service.utilisation(session, period=PERIOD, by="day").rows
    rows = {(r.technician_id, r.bucket_start): r for r in by_day}
    first = rows["T-1", date(2026, 12, 1)]
    assert (first.shift_min, first.break_min, first.available_min) == (540, 60, 480)
    assert (first.service_min, first.travel_min, first.idle_min, first.visits) == (100, 50, 330, 2)
    assert first.utilisation == round(100 / 480, 4)
    assert rows["T-1", date(2026, 12, 2)].visits == 0
    second = rows["T-2", date(2026, 12, 5)]
    assert (second.service_min, second.travel_min, second.available_min) == (30, 0, 240)
    by_week = service.utilisation(session, period=PERIOD, by="week").rows
    week = next(r for r in by_week if r.technician_id == "T-1")
    assert week.bucket_start == date(2026, 11, 30) and week.available_min == 720
    assert week.name == "张师傅"


def test_weeks_are_local_to_the_time_zone(session: Session, report_world: ReportWorld) -> None:
    # In Berlin lead 1 (Sunday 17:00 UTC) is on Sunday 18:00, in the week before.
    berlin = Period(PERIOD.first - timedelta(days=7), PERIOD.last, "Europe/Berlin")
    weeks = {
        (r.week, r.channel): r.received for r in service.lead_funnel(session, period=berlin).rows
    }
    assert weeks["2026-W48", "web_form"] == 1 and weeks["2026-W49", "web_form"] == 2


def test_local_days_follow_daylight_saving(session: Session) -> None:
    # Berlin leaves summer time on 2026-10-25 at 01:00 UTC. Both leads fall on local days of
    # ISO week 43: one offset for the whole period would move one of them out of it.
    for n, at in enumerate(
        [datetime(2026, 10, 18, 22, 30, tzinfo=UTC), datetime(2026, 10, 25, 22, 30, tzinfo=UTC)]
    ):
        session.add(LeadRow(source="shop-a", channel="api", status="new", score_lines=[],
                            touch_count=1, last_touched_at=at, created_at=at, updated_at=at,
                            external_id=f"dst-{n}"))  # fmt: skip
    session.flush()
    autumn = Period(date(2026, 10, 12), date(2026, 11, 1), "Europe/Berlin")
    rows = service.lead_funnel(session, period=autumn).rows
    assert [(r.week, r.received) for r in rows] == [("2026-W43", 2)]


def test_an_empty_period_has_empty_reports(session: Session, report_world: ReportWorld) -> None:
    quiet = Period(date(2025, 1, 1), date(2025, 1, 31), "Asia/Shanghai")
    assert service.lead_funnel(session, period=quiet).rows == []
    assert service.sla(session, period=quiet, now=NOW).rows == []
    assert service.cost(session, period=quiet).totals == []
    assert service.utilisation(session, period=quiet, by="week").rows == []


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/v1/reports/lead-funnel", "week,week_start,channel,received"),
        ("/v1/reports/sla", "region_id,first_response_counted"),
        ("/v1/reports/cost", "region_id,currency,orders,pay,pay_per_order,billed_orders,billed,"),
        ("/v1/reports/utilisation", "technician_id,name,bucket_start,shift_min"),
    ],
)
def test_each_report_downloads_as_csv(
    client: TestClient, headers: Headers, report_world: ReportWorld, path: str, header: str
) -> None:
    response = client.get(path, params={**RANGE, "format": "csv"}, headers=headers["admin"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    name = path.rsplit("/", 1)[1]
    assert f'filename="{name}' in response.headers["content-disposition"]
    assert "2026-11-30_2026-12-13.csv" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
    text = response.content.decode("utf-8-sig")
    assert text.startswith(header)
    assert len(list(csv.reader(io.StringIO(text)))) > 1


def test_accept_text_csv_asks_for_csv(
    client: TestClient, headers: Headers, report_world: ReportWorld
) -> None:
    asked = {**headers["dispatcher"], "Accept": "text/csv"}
    response = client.get("/v1/reports/utilisation", params=RANGE, headers=asked)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = {row["technician_id"]: row["name"] for row in rows}
    assert names["T-1"] == "张师傅"
    assert names["T-2"].startswith("'=")  # a formula is written as text


def test_json_is_the_default(
    client: TestClient, headers: Headers, report_world: ReportWorld
) -> None:
    response = client.get("/v1/reports/cost", params=RANGE, headers=headers["admin"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == {**RANGE, "time_zone": "Asia/Shanghai"}
    assert {"amount": "186.00", "currency": "CNY"} in [r["pay"] for r in body["rows"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"first": "2026-12-13", "last": "2026-11-30"}, "last"),
        ({"first": "2025-01-01", "last": "2026-12-13"}, "last"),
        ({"first": "2026-13-01", "last": "2026-12-13"}, "first"),
        ({"first": "0", "last": "2026-12-13"}, "first"),
        ({**RANGE, "format": "xlsx"}, "format"),
        ({**RANGE, "by": "month"}, "by"),
    ],
)
def test_a_bad_period_is_a_422_naming_the_field(
    client: TestClient, headers: Headers, params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/reports/utilisation", params=params, headers=headers["admin"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["errors"][0]["field"] == field


def test_reports_are_for_staff(client: TestClient, headers: Headers) -> None:
    for who in ("tech_a", "shop_a"):
        response = client.get("/v1/reports/lead-funnel", headers=headers[who])
        assert response.status_code == 403
    assert client.get("/v1/reports/sla").status_code == 401


def test_the_page_draws_four_boards(
    client: TestClient, headers: Headers, report_world: ReportWorld
) -> None:
    response = client.get("/reports", params={**RANGE, "lang": "zh"}, headers=headers["admin"])
    assert response.status_code == 200, response.text
    page = response.text
    for board in ("lead-funnel", "sla", "cost", "utilisation"):
        assert f'data-board="{board}"' in page
        assert f"/v1/reports/{board}" in page
    assert "张师傅" in page and "¥186.00" in page
    assert "=cmd" in page and "<script" not in page.split("</header>", 1)[1]


def test_the_page_refuses_a_bad_period_as_a_page(client: TestClient, headers: Headers) -> None:
    backwards = {"first": "2026-12-13", "last": "2026-11-30"}
    response = client.get("/reports", params=backwards, headers=headers["admin"])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "last" in response.text


def test_the_page_is_for_managers(client: TestClient, headers: Headers) -> None:
    assert client.get("/reports", headers=headers["tech_a"]).status_code == 403
    anonymous = client.get("/reports", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
