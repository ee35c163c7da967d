"""Two withdrawals at once on PostgreSQL: the technician lock lets only one spend the balance.

This test commits (each request is its own transaction), so it uses a technician id of its
own and removes its rows at the end; the ledger's no-DELETE trigger is bypassed for that
cleanup only, with ``session_replication_role = replica`` as the superuser (``admin_engine``:
the service's role may neither delete ledger rows nor set that).
"""

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.auth import utc_now
from api.db.spatial import to_wkb
from api.db.tables import TechnicianRow
from api.settlement import repository as settlement_repo
from settlement import InsufficientBalance, Money


@pytest.fixture
def funded_technician(engine: Engine, admin_engine: Engine) -> Iterator[str]:
    """A committed technician with 100.00 CNY in the ledger (removed afterwards)."""
    technician_id = f"T-conc-{uuid.uuid4().hex[:8]}"
    now = utc_now()
    with Session(engine) as session, session.begin():
        session.add(
            TechnicianRow(
                id=technician_id,
                name="concurrency",
                home_base=to_wkb(Point(121.5, 31.2)),
                skills={},
                is_active=True,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        before = settlement_repo.load(session, technician_id=technician_id)
        after = before.ledger.adjust(technician_id, Money(Decimal("100.00")), now, "opening")
        settlement_repo.append(session, before=before, after=after, actor_key_id=None)
    yield technician_id
    with admin_engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in ("ledger_entry", "technician"):
            column = "technician_id" if table == "ledger_entry" else "id"
            conn.execute(text(f"DELETE FROM {table} WHERE {column} = :t"), {"t": technician_id})


@pytest.mark.postgis
def test_concurrent_withdrawals_cannot_overdraw(engine: Engine, funded_technician: str) -> None:
    start = threading.Barrier(2)

    def withdraw_80() -> str:
        with Session(engine) as session:
            start.wait()
            try:
                with session.begin():
                    settlement_repo.withdraw(
                        session,
                        technician_id=funded_technician,
                        amount=Money(Decimal("80.00")),
                        now=utc_now(),
                        actor_key_id=None,
                        memo="race",
                    )
                    time.sleep(0.3)  # hold the lock while the other request arrives
            except InsufficientBalance:
                return "refused"
            return "paid"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: withdraw_80(), range(2)))
    assert outcomes == ["paid", "refused"]
    with Session(engine) as session:
        ledger = settlement_repo.load(session, technician_id=funded_technician).ledger
        assert ledger.balance(funded_technician) == Money(Decimal("20.00"))
