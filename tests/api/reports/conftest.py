"""The hand-counted fortnight of ``world.py``, for each test that asks for it."""

import pytest
from sqlalchemy.orm import Session

from tests.api.reports.world import ReportWorld, build


@pytest.fixture
def report_world(session: Session) -> ReportWorld:
    """The fortnight, written in the test's rolled-back session."""
    return build(session)
