"""Bearer tokens: 401 without a valid one, 403 for a role that may not, hashes only at rest."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import (
    KeyBindingError,
    Principal,
    PrincipalDep,
    Role,
    create_key,
    require_roles,
    revoke_key,
)
from api.db.tables import ApiKeyRow
from api.deps import get_session
from api.errors import install_error_handlers


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    """An app with one route any caller may use and one only dispatchers may use."""
    app = FastAPI()
    install_error_handlers(app)
    app.dependency_overrides[get_session] = lambda: session

    @app.get("/me")
    def me(principal: PrincipalDep) -> dict[str, str | None]:
        return {"role": principal.role, "technician_id": principal.technician_id}

    @app.get("/dispatch-only")
    def dispatch_only(
        principal: Annotated[Principal, require_roles(Role.DISPATCHER, Role.ADMIN)],
    ) -> dict[str, str]:
        return {"name": principal.name}

    with TestClient(app) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_identifies_the_caller(client: TestClient, session: Session) -> None:
    _, token = create_key(session, role=Role.TECHNICIAN, name="Wang", technician_id="T1")
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"role": "technician", "technician_id": "T1"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, bearer("gd_nope")],
)
def test_missing_or_unknown_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_revoked_token_is_401(client: TestClient, session: Session) -> None:
    row, token = create_key(session, role=Role.ADMIN, name="ops")
    assert revoke_key(session, key_id=row.id, now=datetime.now(UTC))
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert not revoke_key(session, key_id=row.id, now=datetime.now(UTC))


def test_wrong_role_is_403(client: TestClient, session: Session) -> None:
    _, technician = create_key(session, role=Role.TECHNICIAN, name="Li", technician_id="T2")
    _, dispatcher = create_key(session, role=Role.DISPATCHER, name="desk")
    forbidden = client.get("/dispatch-only", headers=bearer(technician))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    assert client.get("/dispatch-only", headers=bearer(dispatcher)).status_code == 200


def test_only_the_hash_is_stored(session: Session) -> None:
    row, token = create_key(session, role=Role.INTEGRATOR, name="shop", source="tmall")
    stored = session.scalars(select(ApiKeyRow).where(ApiKeyRow.id == row.id)).one()
    assert token not in (stored.token_sha256, stored.id, stored.name)
    assert len(stored.token_sha256) == 64


@pytest.mark.parametrize(
    ("role", "binding"),
    [
        (Role.TECHNICIAN, {}),
        (Role.INTEGRATOR, {}),
        (Role.ADMIN, {"technician_id": "T1"}),
        (Role.DISPATCHER, {"source": "tmall"}),
    ],
)
def test_keys_need_the_binding_their_role_implies(
    session: Session, role: Role, binding: dict[str, str]
) -> None:
    with pytest.raises(KeyBindingError):
        create_key(session, role=role, name="x", **binding)
