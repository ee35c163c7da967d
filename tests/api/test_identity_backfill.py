"""Migration 0010 on a database that already holds customers, tickets and leads.

Before customer identity every ticket carried its own copy of its customer. Upgrading replays
those copies through the identity rules: the same phone spelled otherwise merges into the
earlier customer (its ticket moves), the same name nearby becomes a suggestion, a phone that
does not parse stays as it was, sources stay apart, and a lead joins its customer. Runs on
SpatiaLite, and on a fresh PostGIS database in the database pass.
"""

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.db import migrate
from api.db.spatial import make_engine

POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL", "")
BEFORE_IDENTITY = "0009_adjustment_requests"
AT = "2026-11-01T08:00:00+00:00"


POSTGIS = pytest.param("postgis", marks=[pytest.mark.db, pytest.mark.postgis])


@pytest.fixture(params=["spatialite", POSTGIS])
def legacy(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A database migrated up to the revision before customer identity; removed afterwards."""
    if request.param == "spatialite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'legacy.sqlite'}")
            migrate.upgrade(engine, BEFORE_IDENTITY)
            yield engine
            engine.dispose()
        return
    name = f"gd_backfill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGIS_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION postgis")
        engine = make_engine(url)
        migrate.upgrade(engine, BEFORE_IDENTITY)
        yield engine
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _point(conn: Connection, lon: float, lat: float) -> str:
    function = "ST_GeomFromText" if conn.dialect.name == "postgresql" else "GeomFromText"
    return f"{function}('POINT({lon} {lat})', 4326)"


def _customer_with_ticket(
    conn: Connection, source: str, name: str, phone: str | None, at: tuple[float, float]
) -> tuple[int, int]:
    """Store a customer copy and its ticket as the service did before identity."""
    customer = conn.execute(
        text(
            "INSERT INTO customer (source, name, phone, email, created_at) "
            "VALUES (:source, :name, :phone, NULL, :at) RETURNING id"
        ),
        {"source": source, "name": name, "phone": phone, "at": AT},
    ).scalar_one()
    ticket = conn.execute(
        text(
            "INSERT INTO ticket (source, external_id, type, location, address, duration_min, "
            "skills, time_windows, priority, status, customer_id, created_at, updated_at, "
            "demand, units, difficulty, materials) VALUES (:source, :external_id, 'repair', "
            f"{_point(conn, *at)}, '南京东路 100 号', 60, '{{}}', '[]', 'normal', 'new', "
            ":customer, :at, :at, 1, 1, '[]', '[]') RETURNING id"
        ),
        {"source": source, "external_id": f"T-{customer}", "customer": customer, "at": AT},
    ).scalar_one()
    return int(customer), int(ticket)


def _lead(conn: Connection, source: str, name: str, phone: str) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO lead (source, channel, name, phone_e164, status, score_lines, "
                "touch_count, last_touched_at, created_at, updated_at) VALUES (:source, 'web', "
                ":name, :phone, 'new', '[]', 0, :at, :at, :at) RETURNING id"
            ),
            {"source": source, "name": name, "phone": phone, "at": AT},
        ).scalar_one()
    )


def _rows(conn: Connection, query: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(query), params)]


def test_upgrading_replays_the_stored_customers_through_the_identity_rules(
    legacy: Engine,
) -> None:
    here, near = (121.4737, 31.2304), (121.4740, 31.2306)  # about 35 m apart
    with legacy.begin() as conn:
        wang, _ = _customer_with_ticket(conn, "shop", "王女士", "+86 138 0013 8000", here)
        copy, copy_ticket = _customer_with_ticket(conn, "shop", "王女士", "138-0013-8000", near)
        li, _ = _customer_with_ticket(conn, "shop", "李先生", "+86 139 1234 5678", here)
        namesake, _ = _customer_with_ticket(conn, "shop", "李先生", "+86 137 0000 1111", near)
        odd, _ = _customer_with_ticket(conn, "shop", "赵先生", "12345", (121.5, 31.3))
        other_source, _ = _customer_with_ticket(conn, "shop-b", "王女士", "+8613800138000", here)
        lead = _lead(conn, "shop", "王女士", "+8613800138000")

    migrate.upgrade(legacy)

    with legacy.connect() as conn:
        # The same phone spelled otherwise: the later copy merged into the earlier customer.
        assert _rows(conn, "SELECT merged_into_id FROM customer WHERE id = :id", id=copy) == [
            (wang,)
        ]
        assert _rows(conn, "SELECT customer_id FROM ticket WHERE id = :id", id=copy_ticket) == [
            (wang,)
        ]
        merges = _rows(
            conn, "SELECT survivor_id, merged_id, merged_by, unmerged_at FROM customer_merge"
        )
        assert merges == [(wang, copy, "migration 0010", None)]
        # Phones in E.164, identifiers per source; a phone that does not parse is none.
        identifiers = _rows(
            conn,
            "SELECT source, kind, value, customer_id FROM customer_identifier ORDER BY id",
        )
        assert identifiers == [
            ("shop", "phone", "+8613800138000", wang),
            ("shop", "phone", "+8613912345678", li),
            ("shop", "phone", "+8613700001111", namesake),
            ("shop-b", "phone", "+8613800138000", other_source),
        ]
        assert _rows(conn, "SELECT phone, merged_into_id FROM customer WHERE id = :id", id=odd) == [
            ("12345", None)
        ]
        # The same name 35 m apart with another phone: a suggestion, not a merge.
        suggestions = _rows(
            conn, "SELECT customer_id, candidate_id, status FROM customer_merge_suggestion"
        )
        assert suggestions == [(li, namesake, "open")]
        # Name keys and first points filled in; the lead joined its customer.
        assert _rows(conn, "SELECT name_key FROM customer WHERE id = :id", id=li) == [("李先生",)]
        lon, lat = _rows(conn, "SELECT lon, lat FROM customer WHERE id = :id", id=wang)[0]
        assert (round(lon, 4), round(lat, 4)) == here
        assert _rows(conn, "SELECT customer_id FROM lead WHERE id = :id", id=lead) == [(wang,)]
