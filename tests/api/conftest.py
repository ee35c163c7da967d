"""An HTTP client on the app, sharing the rolled-back test session; or the app on its own."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.config import Settings
from api.db.tables import (
    ApiKeyRow,
    CustomerIdentifierRow,
    CustomerMergeRow,
    CustomerRow,
    IdempotencyKeyRow,
    LeadRow,
    MergeSuggestionRow,
    TicketRow,
    TicketStatusChangeRow,
)
from api.deps import get_session
from api.main import create_app


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    """A test client whose requests all run in the test's session (rolled back afterwards)."""
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def headers(session: Session) -> dict[str, dict[str, str]]:
    """``Authorization`` headers for a caller of each kind, keyed by a short name.

    ``admin``, ``dispatcher``; technicians ``tech_a`` (technician id ``T-A``) and ``tech_b``
    (``T-B``); integrators ``shop_a`` (source ``shop-a``) and ``shop_b`` (``shop-b``).
    """
    callers = {
        "admin": {"role": Role.ADMIN},
        "dispatcher": {"role": Role.DISPATCHER},
        "tech_a": {"role": Role.TECHNICIAN, "technician_id": "T-A"},
        "tech_b": {"role": Role.TECHNICIAN, "technician_id": "T-B"},
        "shop_a": {"role": Role.INTEGRATOR, "source": "shop-a"},
        "shop_b": {"role": Role.INTEGRATOR, "source": "shop-b"},
    }
    result = {}
    for name, binding in callers.items():
        _, token = create_key(session, name=name, **binding)  # type: ignore[arg-type]
        result[name] = {"Authorization": f"Bearer {token}"}
    return result


@pytest.fixture
def live(engine: Engine, settings: Settings) -> Iterator[tuple[FastAPI, dict[str, str], str]]:
    """The app on the real test database, each request on its own session (no shared session),
    so its commits and rollbacks are real, as in production.

    Yields the app, an integrator's headers and its fresh source; deletes what that source
    stored afterwards.
    """
    source = f"live-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session, session.begin():
        _, token = create_key(session, role=Role.INTEGRATOR, name=source, source=source)
    app = create_app(settings)
    yield app, {"Authorization": f"Bearer {token}"}, source
    app.state.engine.dispose()
    forget_source(engine, source)


def forget_source(engine: Engine, source: str) -> None:
    """Delete what an integrator's source stored: tickets, histories, customers (with their
    identifiers, suggestions and merges), keys."""
    with Session(engine) as session, session.begin():
        ticket_ids = select(TicketRow.id).where(TicketRow.source == source)
        session.execute(
            delete(TicketStatusChangeRow).where(TicketStatusChangeRow.ticket_id.in_(ticket_ids))
        )
        session.execute(delete(TicketRow).where(TicketRow.source == source))
        session.execute(update(LeadRow).where(LeadRow.source == source).values(customer_id=None))
        for identity in (CustomerMergeRow, MergeSuggestionRow, CustomerIdentifierRow):
            session.execute(delete(identity).where(identity.source == source))
        session.execute(
            update(CustomerRow).where(CustomerRow.source == source).values(merged_into_id=None)
        )
        session.execute(delete(CustomerRow).where(CustomerRow.source == source))
        session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.principal == f"source:{source}")
        )
        session.execute(delete(ApiKeyRow).where(ApiKeyRow.source == source))


@pytest.fixture
def technician(client: TestClient, headers: dict[str, dict[str, str]]) -> str:
    """Technician ``T-A``, the one the ``tech_a`` key is bound to; returns its id."""
    body = {"id": "T-A", "name": "T-A", "home_base": [121.45, 31.22]}
    response = client.post("/v1/technicians", json=body, headers=headers["admin"])
    assert response.status_code == 201, response.text
    return "T-A"
