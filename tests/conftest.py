"""Database fixtures shared by the service tests.

The suite runs on a throwaway SpatiaLite file by default.  With ``TEST_POSTGIS_ADMIN_URL`` set
(a PostgreSQL URL with the right to create databases) it creates a fresh PostGIS database for the
run instead and drops it afterwards.  Every test's writes, commits included, are rolled back.

The service and database modules are imported inside the fixtures, so collecting the pure
packages' tests (``tests/geo``, ``tests/settlement``, ``tests/dispatch``) loads none of them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from api.config import Settings

POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL")
DEMO_REGIONS = Path(__file__).resolve().parents[1] / "data" / "regions.geojson"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the database ``db``; skip PostGIS-only tests on SpatiaLite."""
    skip_postgis = pytest.mark.skip(reason="needs PostGIS: set TEST_POSTGIS_ADMIN_URL")
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        if item.get_closest_marker("postgis") and not POSTGIS_ADMIN_URL:
            item.add_marker(skip_postgis)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty database made for this test run (PostGIS or a SpatiaLite file)."""
    if not POSTGIS_ADMIN_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"geodispatch_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGIS_ADMIN_URL).set(database=name)
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("CREATE EXTENSION postgis"))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The migrated test database, with the demo city's regions loaded."""
    from sqlalchemy.orm import Session

    from api.datafiles import load_regions
    from api.db import migrate
    from api.db.spatial import make_engine
    from api.regions import repository as region_repo

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        region_repo.replace_all(session, regions=load_regions(DEMO_REGIONS, max_vertices=20_000))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back after the test."""
    from sqlalchemy.orm import Session

    with engine.connect() as conn, conn.begin() as outer:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
            yield s
        outer.rollback()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Service settings pointing at the test database."""
    from api.config import Settings

    return Settings(database_url=database_url, regions_file=DEMO_REGIONS)
