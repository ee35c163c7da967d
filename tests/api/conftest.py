"""An HTTP client on the app, sharing the rolled-back test session."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import Role, create_key
from api.config import Settings
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
