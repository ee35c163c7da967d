"""Two transactions capturing the same person at once make one lead (PostgreSQL locks)."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from api.db.tables import LeadNurtureStepRow, LeadRow, LeadTouchRow
from api.leads import repository as lead_repo
from api.leads.rules.dedupe import DedupeParams
from api.leads.schemas import LeadCreate
from api.regions import repository as region_repo
from geo.regions import RegionIndex

SOURCE = "concurrency-test"


@pytest.mark.postgis
def test_concurrent_captures_of_one_person_merge(engine: Engine) -> None:
    with Session(engine) as session:
        index = RegionIndex(region_repo.list_regions(session))
    lead_in = LeadCreate(name="王芳", phone="13912345678")

    def capture(session: Session) -> str:
        [captured] = lead_repo.capture_many(
            session, leads_in=[lead_in], source=SOURCE, actor_key_id=None, index=index,
            now=datetime.now(UTC), dedupe=DedupeParams(),
        )  # fmt: skip
        return captured.outcome

    outcomes: list[str] = []
    try:
        with Session(engine) as first:
            outcomes.append(capture(first))  # holds the person's lock until it commits
            second = threading.Thread(target=lambda: _in_own_session(engine, capture, outcomes))
            second.start()
            second.join(0.5)
            assert second.is_alive()  # waiting for the first transaction
            first.commit()
        second.join(10)
        assert outcomes == ["created", "merged"]
    finally:
        with Session(engine) as session, session.begin():
            ids = select(LeadRow.id).where(LeadRow.source == SOURCE)
            session.execute(delete(LeadNurtureStepRow).where(LeadNurtureStepRow.lead_id.in_(ids)))
            session.execute(delete(LeadTouchRow).where(LeadTouchRow.lead_id.in_(ids)))
            session.execute(delete(LeadRow).where(LeadRow.source == SOURCE))


def _in_own_session(engine: Engine, capture: object, outcomes: list[str]) -> None:
    with Session(engine) as session:
        outcomes.append(capture(session))  # type: ignore[operator]
        session.commit()
