"""An HTTP client on the app, sharing the rolled-back test session."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

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
