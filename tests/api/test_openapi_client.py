"""Integrators generate clients from ``/openapi.json``: the most used Python generator must take it.

The document is written to a temporary folder and ``openapi-python-client`` (installed in the
venv, run offline) generates a package from it. Every component schema and every operation must
come through under a readable name. The generator types JSON, form and multipart bodies only, so
it passes over the two alternative bodies it has no type for (the lead import's raw ``text/csv``,
also accepted as a multipart upload, and the rate card's ``application/toml``, also accepted as
JSON), with one warning each: those two, and nothing else, are allowed.
"""

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import PROJECT_ROOT, Settings
from api.main import create_app

pytest.importorskip("openapi_python_client", reason="openapi-python-client is a dev dependency")

KNOWN_WARNINGS = {
    ("POST /v1/leads/import", "Unsupported content type text/csv"),
    ("POST /v1/rate-cards", "Unsupported content type application/toml"),
    ("POST /v1/price-lists", "Unsupported content type application/toml"),
    (  # a photo: the client gets the raw response
        "GET /v1/tickets/{ticket_id}/checklist/{item_id}/photo",
        "Cannot parse response for status code <status> (Unsupported content_type image/png, "
        "image/jpeg), response will be omitted from generated client",
    ),
}
OBJECT_REPR = re.compile(r"<openapi_python_client\S* object at 0x[0-9a-f]+>")
WARNING = re.compile(r"^WARNING parsing (\S+ \S+) within \S+\.\n\n(.+)$", re.MULTILINE)
PACKAGE = "geodispatch_client"
OPERATION_IDS = {
    "health",
    "regions_list", "regions_locate",
    "tickets_create", "tickets_list", "tickets_create_batch", "tickets_read",
    "tickets_read_history", "tickets_create_transition", "tickets_settle",
    "technicians_create", "technicians_list", "technicians_read", "technicians_update",
    "technicians_deactivate", "technicians_put_shifts", "technicians_read_shifts",
    "technicians_read_route", "technicians_post_locations",
    "leads_capture", "leads_list", "leads_capture_batch", "leads_import_csv", "leads_funnel",
    "leads_nurture_due", "leads_list_owners", "leads_put_owner", "leads_read",
    "leads_record_touch", "leads_convert",
    "dispatch_submit_run", "dispatch_read_run", "dispatch_apply_run",
    "dispatch_override_assignment", "dispatch_insert_ticket", "dispatch_availability",
    "rate_cards_upload", "rate_cards_list", "rate_cards_in_force", "rate_cards_read",
    "price_lists_upload", "price_lists_list", "price_lists_read", "bills_read",
    "settlement_settle_backlog", "settlement_simulate_rate_card",
    "earnings_read", "earnings_read_order", "earnings_read_statement", "earnings_read_ledger",
    "earnings_withdraw", "earnings_adjust",
    "adjustments_list", "adjustments_read", "adjustments_approve", "adjustments_reject",
    "inquiries_create", "inquiries_list", "inquiries_read", "inquiries_confirm",
    "customers_list", "customers_list_suggestions", "customers_accept_suggestion",
    "customers_refuse_suggestion", "customers_unmerge", "customers_recompute_value_tiers",
    "customers_read", "customers_merge",
    "procedures_list", "procedures_read_ticket", "procedures_tick_item", "procedures_untick_item",
    "procedures_read_item_photo",
    "devices_create", "devices_read", "devices_post_events", "devices_list_incidents",
    "escalations_read_rules", "escalations_list_firings", "escalations_approve_ticket",
    "reports_lead_funnel", "reports_sla", "reports_cost", "reports_utilisation",
    "webhooks_list_subscriptions", "webhooks_create_subscription", "webhooks_read_subscription",
    "webhooks_update_subscription", "webhooks_delete_subscription", "webhooks_list_deliveries",
    "map_regions_layer", "map_technicians_layer", "map_tickets_layer", "map_unassigned_layer",
    "map_routes_layer", "map_kpis",
}  # fmt: skip


@pytest.fixture(scope="module")
def openapi_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``/openapi.json`` of the app (no database is touched), written to a temporary file."""
    folder = tmp_path_factory.mktemp("openapi-client")
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'unused.sqlite'}"))
    try:
        response = TestClient(app).get("/openapi.json")  # no lifespan: no workers
    finally:
        app.state.engine.dispose()
    assert response.status_code == 200
    path = folder / "openapi.json"
    path.write_bytes(response.content)
    return path


@pytest.fixture(scope="module")
def spec(openapi_json: Path) -> dict[str, Any]:
    """The document as served."""
    document: dict[str, Any] = json.loads(openapi_json.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def generated(openapi_json: Path) -> tuple[Path, str]:
    """The generated project's folder and the generator's output (stdout and stderr)."""
    folder = openapi_json.parent
    bin_dir = Path(sys.executable).parent  # the generator formats its output with our ruff
    command = [
        str(bin_dir / "openapi-python-client"), "generate", "--path", str(openapi_json),
        "--output-path", str(folder / "client"),
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return folder / "client", output


@pytest.fixture(scope="module")
def client_package(generated: tuple[Path, str]) -> Iterator[ModuleType]:
    """The generated package, imported from its folder and forgotten afterwards."""
    folder, _ = generated
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_every_component_schema_has_a_plain_unique_name(spec: dict[str, Any]) -> None:
    names = list(spec["components"]["schemas"])
    assert [n for n in names if "__" in n] == []  # no ``api__schemas__webhooks__AttemptRead``
    lowered = [n.lower() for n in names]
    assert len(set(lowered)) == len(lowered)
    assert {
        "PlanRouteRead", "TechnicianRouteRead", "DeliveryAttemptRead", "SettlementAttemptRead",
    } <= set(names)  # fmt: skip


def test_every_operation_has_its_stable_readable_id(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert set(ids) == OPERATION_IDS


def test_the_generator_warns_only_of_what_it_cannot_type(generated: tuple[Path, str]) -> None:
    _, output = generated
    # It prints a status code as its object's repr, with an address: read as ``<status>``.
    readable = OBJECT_REPR.sub("<status>", output)
    assert set(WARNING.findall(readable)) == KNOWN_WARNINGS
    assert output.count("WARNING") == len(KNOWN_WARNINGS)
    assert "Unable to" not in output
    assert "not in PATH" not in output  # its ruff post-processing ran too


def _endpoint(package: ModuleType, tag: str, operation: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation}")


def test_the_client_has_the_models_that_used_to_be_dropped(client_package: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in (
        "TechnicianRouteRead", "RouteStop", "PlanRouteRead",
        "DeliveryPage", "DeliveryRead", "DeliveryAttemptRead",
        "LeadsImportCsvFilesBody", "LeadBatchResult",
        "RateCardsUploadJsonBody", "RateCardSaved", "SettlementAttemptRead",
    ):  # fmt: skip
        assert inspect.isclass(getattr(models, name)), name
    route = _endpoint(client_package, "technicians", "technicians_read_route")
    deliveries = _endpoint(client_package, "webhooks", "webhooks_list_deliveries")
    lead_import = _endpoint(client_package, "leads", "leads_import_csv")
    card_upload = _endpoint(client_package, "rate_cards", "rate_cards_upload")
    assert "TechnicianRouteRead" in inspect.getsource(route._parse_response)
    assert "DeliveryPage" in inspect.getsource(deliveries._parse_response)
    assert "LeadBatchResult" in inspect.getsource(lead_import._parse_response)
    assert "RateCardSaved" in inspect.getsource(card_upload._parse_response)
    upload_body = inspect.signature(card_upload.sync_detailed).parameters["body"]
    assert "RateCardsUploadJsonBody" in str(upload_body.annotation)
    import_body = inspect.signature(lead_import.sync_detailed).parameters["body"]
    assert "LeadsImportCsvFilesBody" in str(import_body.annotation)


def test_a_generated_model_reads_what_the_service_sends(client_package: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    delivery = {
        "id": 7, "event_type": "ticket.status_changed", "ticket_id": 42, "status": "succeeded",
        "attempt_count": 1, "next_attempt_at": None, "last_status_code": 200,
        "last_error": None, "created_at": "2026-12-03T09:00:00+08:00",
        "completed_at": "2026-12-03T09:00:01+08:00", "body": "{}",
        "attempts": [{"attempt_no": 1, "started_at": "2026-12-03T09:00:00+08:00",
                      "latency_ms": 35, "status_code": 200, "error": None,
                      "is_success": True}],
    }  # fmt: skip
    page = models.DeliveryPage.from_dict({"items": [delivery], "next_cursor": None})
    attempt = page.items[0].attempts[0]
    assert isinstance(attempt, models.DeliveryAttemptRead)
    assert (attempt.status_code, attempt.is_success) == (200, True)
    assert page.to_dict()["items"][0]["attempts"][0]["latency_ms"] == 35


def _guide_client_example() -> str:
    """The integrator guide's Python example that uses the generated client."""
    guide = (PROJECT_ROOT / "docs" / "guides" / "integrator.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```\n", guide, re.MULTILINE | re.DOTALL)
    (example,) = [b for b in blocks if PACKAGE in b]
    return str(example)


def test_the_integrator_guide_example_runs_with_the_generated_client(
    client_package: ModuleType,
    live: tuple[FastAPI, dict[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The guide's example creates a ticket and lists it, through the app on the test database."""
    app, headers, source = live
    real = client_package.AuthenticatedClient
    test_client = TestClient(app, base_url="http://127.0.0.1:8000", headers=headers)

    def on_the_app(**kwargs: Any) -> Any:
        """The guide's client, its requests sent to the app with the live integrator's key."""
        made = real(**kwargs)
        made.set_httpx_client(test_client)
        return made

    monkeypatch.setattr(client_package, "AuthenticatedClient", on_the_app)
    namespace: dict[str, Any] = {}
    exec(compile(_guide_client_example(), "integrator.md", "exec"), namespace)
    response, page = namespace["response"], namespace["page"]
    assert response.status_code == 201, response.content
    models = importlib.import_module(f"{PACKAGE}.models")
    assert isinstance(response.parsed, models.TicketRead)
    assert response.parsed.source == source
    assert response.parsed.region_id == "310101"
    assert [t.external_id for t in page.items] == ["SO-2027-000200"]
    assert capsys.readouterr().out.split() == [str(response.parsed.id), "310101"]
