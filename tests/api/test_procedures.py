"""Service procedures: the shipped library, choosing one for a ticket, ticking, and the gate."""

import base64
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import PROJECT_ROOT, Settings
from api.deps import get_session
from api.main import create_app
from api.procedures.repository import ProcedureFileError, library
from api.procedures.rules import (
    InvalidProcedure,
    ProcedureLibrary,
    missing_items,
    parse_procedure,
)

Headers = dict[str, dict[str, str]]
SHIPPED = PROJECT_ROOT / "data" / "procedures"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
PHOTO = {"photo_base64": PNG, "photo_media_type": "image/png"}


def shipped_table(name: str) -> dict[str, Any]:
    with (SHIPPED / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


# The library and its rules, without the service.
def test_every_shipped_procedure_loads_and_every_ticket_type_has_one() -> None:
    shipped = library(SHIPPED)
    assert len(shipped.current) == len(list(SHIPPED.glob("*.toml")))
    for ticket_type in ("install", "repair", "maintenance", "inspection", "consult"):
        assert shipped.for_ticket(ticket_type, set()) is not None, ticket_type


def chosen(
    library: ProcedureLibrary, ticket_type: str, *skills: str, model: str | None = None
) -> str:
    procedure = library.for_ticket(ticket_type, set(skills), model)
    assert procedure is not None
    return procedure.id


def test_the_most_specific_procedure_wins() -> None:
    shipped = library(SHIPPED)
    assert chosen(shipped, "install", "aircon", "plumbing") == "aircon-install"
    assert chosen(shipped, "install", "plumbing") == "general-install"
    for_model = {"id": "locks-install-lk200", "models": ["LK-200"]}
    both = ProcedureLibrary(
        [*shipped.current, parse_procedure(shipped_table("locks-install") | for_model)]
    )
    assert chosen(both, "install", "locks", model="LK-200") == "locks-install-lk200"
    assert chosen(both, "install", "locks", model="LK-300") == "locks-install"
    assert chosen(both, "install", "locks") == "locks-install"


def test_the_latest_version_is_current_and_every_version_stays_addressable() -> None:
    first = parse_procedure(shipped_table("general-repair"))
    second = parse_procedure(shipped_table("general-repair") | {"version": 2, "title_en": "v2"})
    both = ProcedureLibrary([second, first])
    assert both.current == [second]
    assert both.versions["general-repair@1"] is first
    with pytest.raises(InvalidProcedure, match="defined twice"):
        ProcedureLibrary([first, first])


def test_missing_items_are_the_required_ones_not_ticked_in_order() -> None:
    procedure = parse_procedure(shipped_table("aircon-install"))
    missing = missing_items(procedure, {"survey", "vacuum"})
    assert [m.item_id for m in missing] == [
        "bracket", "piping", "test-run", "handover", "part:copper-pipe-3m", "part:bracket",
    ]  # fmt: skip
    assert [m.needs_photo for m in missing][:2] == [True, False]
    everything = {item[0] for item in procedure.items()}
    assert missing_items(procedure, everything - {"part:insulation-tape"}) == []  # optional


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 0}, "version"),
        ({"ticket_types": ["demolition"]}, "procedure"),
        ({"steps": []}, "steps"),
        ({"steps": [{"id": "Bad Id", "zh": "x", "en": "x"}]}, "steps.0.id"),
        ({"steps": [{"id": "a", "zh": "x", "en": "x"}, {"id": "a", "zh": "y", "en": "y"}]},
         "procedure"),
        ({"models": ["LK-200"], "product_lines": []}, "procedure"),
        ({"colour": "red"}, "colour"),
    ],
)  # fmt: skip
def test_a_bad_procedure_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidProcedure) as refused:
        parse_procedure(shipped_table("general-repair") | change)
    assert refused.value.field == field


def test_a_broken_file_stops_the_start_and_later_keeps_the_last_good_library(
    tmp_path: Path, settings: Settings
) -> None:
    shutil.copy(SHIPPED / "general-repair.toml", tmp_path / "general-repair.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "broken"\nversion = "one"\n', encoding="utf-8")
    with pytest.raises(ProcedureFileError, match=r"broken\.toml"):
        create_app(settings.model_copy(update={"procedures_dir": tmp_path}))
    broken.unlink()
    good = library(tmp_path)
    broken.write_text("not = [toml", encoding="utf-8")
    assert library(tmp_path) is good


# Over HTTP: a technician works the checklist of an air-conditioner installation.
@pytest.fixture
def technicians(client: TestClient, headers: Headers) -> None:
    for technician_id in ("T-A", "T-B"):
        body = {"id": technician_id, "name": technician_id, "home_base": [121.45, 31.22],
                "skills": {"aircon": 2, "locks": 1}}  # fmt: skip
        response = client.post("/v1/technicians", json=body, headers=headers["admin"])
        assert response.status_code == 201, response.text


def on_site_ticket(client: TestClient, headers: Headers, external_id: str, **extra: Any) -> int:
    body = {"external_id": external_id, "type": "install", "location": [121.4737, 31.2304],
            "address": "南京东路 100 号", "duration_min": 90, "skills": {"aircon": 2},
            **extra}  # fmt: skip
    created = client.post("/v1/tickets", json=body, headers=headers["shop_a"])
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    for who, move in [
        ("dispatcher", {"to": "scheduled", "technician_id": "T-A"}),
        ("dispatcher", {"to": "dispatched"}), ("tech_a", {"to": "en_route"}),
        ("tech_a", {"to": "on_site"}),
    ]:  # fmt: skip
        moved = client.post(f"/v1/tickets/{ticket_id}/transitions", json=move, headers=headers[who])
        assert moved.status_code == 200, moved.text
    return ticket_id


def tick(client: TestClient, headers: Headers, ticket_id: int, item: str, **body: Any) -> Any:
    url = f"/v1/tickets/{ticket_id}/checklist/{item}"
    return client.put(url, json=body, headers=headers["tech_a"])


@pytest.mark.usefixtures("technicians")
def test_completion_waits_for_the_checklist_and_names_what_is_missing(
    client: TestClient, headers: Headers
) -> None:
    ticket_id = on_site_ticket(client, headers, "PROC-1")
    shown = client.get(f"/v1/tickets/{ticket_id}/procedure", headers=headers["tech_a"]).json()
    assert shown["procedure"]["id"] == "aircon-install" and shown["may_complete"] is False
    assert shown["procedure"]["safety"][0]["en"].startswith("Outdoor units")
    complete = {"to": "completed"}
    refused = client.post(f"/v1/tickets/{ticket_id}/transitions", json=complete,
                          headers=headers["tech_a"])  # fmt: skip
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "checklist_incomplete" and "bracket" in error["message"]
    assert len(error["details"]["missing"]) == 8

    no_photo = tick(client, headers, ticket_id, "bracket")
    assert no_photo.status_code == 422
    assert no_photo.json()["error"]["details"]["field"] == "photo_base64"
    unknown = tick(client, headers, ticket_id, "teleport")
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == "item_id"
    for item in ("survey", "piping", "test-run", "handover", "part:copper-pipe-3m", "part:bracket"):
        assert tick(client, headers, ticket_id, item).status_code == 200
    for item in ("bracket", "vacuum"):
        assert tick(client, headers, ticket_id, item, **PHOTO).status_code == 200
    untick = client.delete(f"/v1/tickets/{ticket_id}/checklist/survey", headers=headers["tech_a"])
    assert [m["item_id"] for m in untick.json()["missing"]] == ["survey"]
    done = tick(client, headers, ticket_id, "survey").json()
    assert done["may_complete"] is True and done["missing"] == []
    items = {i["item_id"]: i for i in done["procedure"]["items"]}
    assert items["bracket"]["has_photo"] and items["bracket"]["ticked_at"]
    assert items["part:insulation-tape"]["ticked_at"] is None  # optional, not needed

    photo = client.get(f"/v1/tickets/{ticket_id}/checklist/bracket/photo", headers=headers["admin"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert photo.content == base64.b64decode(PNG)
    completed = client.post(f"/v1/tickets/{ticket_id}/transitions", json=complete,
                            headers=headers["tech_a"])  # fmt: skip
    assert completed.status_code == 200, completed.text
    closed = tick(client, headers, ticket_id, "survey")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "checklist_closed"


@pytest.mark.usefixtures("technicians")
def test_only_the_ticket_s_technician_or_staff_tick(client: TestClient, headers: Headers) -> None:
    ticket_id = on_site_ticket(client, headers, "PROC-2")
    url = f"/v1/tickets/{ticket_id}/checklist/survey"
    assert client.put(url, json={}, headers=headers["tech_b"]).status_code == 404
    assert client.put(url, json={}, headers=headers["shop_b"]).status_code == 404
    assert client.put(url, json={}, headers=headers["shop_a"]).status_code == 403
    assert client.put(url, json={}, headers=headers["dispatcher"]).status_code == 200
    seen = client.get(f"/v1/tickets/{ticket_id}/procedure", headers=headers["shop_a"])
    assert seen.status_code == 200  # the integrator follows progress
    assert (
        client.get(f"/v1/tickets/{ticket_id}/procedure", headers=headers["tech_b"]).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"photo_base64": PNG}, "body"),
        ({"photo_base64": "not base64!", "photo_media_type": "image/png"}, "photo_base64"),
        ({"photo_base64": base64.b64encode(b"GIF89a").decode(), "photo_media_type": "image/png"},
         "body"),
        ({"photo_base64": PNG, "photo_media_type": "image/gif"}, "photo_media_type"),
        ({"photo": PNG}, "photo"),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("technicians")
def test_a_bad_photo_is_refused_naming_the_field(
    client: TestClient, headers: Headers, body: dict[str, Any], field: str
) -> None:
    ticket_id = on_site_ticket(client, headers, f"PROC-PH-{field}-{len(body)}")
    refused = tick(client, headers, ticket_id, "bracket", **body)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["errors"][0]["field"] == field


@pytest.mark.usefixtures("technicians")
def test_a_job_keeps_the_procedure_version_of_its_first_tick(
    tmp_path: Path, settings: Settings, session: Session, headers: Headers
) -> None:
    shutil.copy(SHIPPED / "aircon-install.toml", tmp_path / "aircon-install.toml")
    app = create_app(settings.model_copy(update={"procedures_dir": tmp_path}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as client:
        started = on_site_ticket(client, headers, "PROC-V-1")
        assert tick(client, headers, started, "survey").status_code == 200
        not_started = on_site_ticket(client, headers, "PROC-V-2")
        text = (tmp_path / "aircon-install.toml").read_text(encoding="utf-8")
        (tmp_path / "aircon-install-v2.toml").write_text(
            text.replace("version = 1", "version = 2", 1), encoding="utf-8"
        )
        shown = {
            tid: client.get(f"/v1/tickets/{tid}/procedure", headers=headers["tech_a"]).json()
            for tid in (started, not_started)
        }
        assert shown[started]["procedure"]["version"] == 1
        assert shown[not_started]["procedure"]["version"] == 2
    app.state.engine.dispose()


def test_the_library_lists_the_procedures_in_force(client: TestClient, headers: Headers) -> None:
    listed = client.get("/v1/procedures", headers=headers["tech_a"])
    assert listed.status_code == 200
    assert {p["id"] for p in listed.json()["items"]} == {p.stem for p in SHIPPED.glob("*.toml")}
    assert client.get("/v1/procedures", headers=headers["shop_a"]).status_code == 403
