"""Database fixtures shared by the service tests.

The suite runs on a throwaway SpatiaLite file by default.  With ``TEST_POSTGIS_ADMIN_URL`` set
(a superuser's PostgreSQL URL) it creates a fresh PostGIS database for the run instead and drops
it afterwards.  Every test's writes, commits included, are rolled back.

On PostGIS the run is set up as production is (``docs/operations.md``, database roles): the
roles ``geodispatch_owner`` (NOLOGIN) and ``geodispatch_app`` exist (``scripts/postgres-roles.sh``
makes them; the fixture makes sure), the migrations run as the owner, and the service, like every
test, connects as the app role (``database_url``, ``engine``), so everything the suite does is
done under least privilege. ``admin_engine`` is the superuser, for the few clean-ups the
service may not do.

The service and database modules are imported inside the fixtures, so collecting the pure
packages' tests (``tests/geo``, ``tests/settlement``, ``tests/dispatch``) loads none of them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from api.config import Settings

POSTGIS_ADMIN_URL = os.environ.get("TEST_POSTGIS_ADMIN_URL")
# The apps and `serve` processes of the tests start their dispatch worker when a run needs it,
# not at start-up (on in production): the suite starts hundreds of apps.
os.environ.setdefault("GEODISPATCH_DISPATCH_WARM_WORKERS", "false")
# Tests evaluate escalations when they ask to: a worker thread would commit beside their session.
os.environ.setdefault("GEODISPATCH_ESCALATION_INTERVAL_S", "0")
DEMO_REGIONS = Path(__file__).resolve().parents[1] / "data" / "regions.geojson"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the database ``db``; skip PostGIS-only tests on SpatiaLite."""
    skip_postgis = pytest.mark.skip(reason="needs PostGIS: set TEST_POSTGIS_ADMIN_URL")
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        if item.get_closest_marker("postgis") and not POSTGIS_ADMIN_URL:
            item.add_marker(skip_postgis)


@dataclass(frozen=True)
class RunDatabase:
    """The run's database: the service's URL, an administrator's, and the schema's owner.

    On SpatiaLite both URLs name the file and there is no owner role (SQLite has no roles).
    """

    url: str
    admin_url: str
    owner_role: str | None = None


#: The roles of a PostGIS run (``api.db.roles``); cluster-wide, shared by concurrent runs.
OWNER_ROLE = "geodispatch_owner"
APP_ROLE = "geodispatch_app"


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunDatabase]:
    """An empty database made for this test run (PostGIS or a SpatiaLite file)."""
    if not POSTGIS_ADMIN_URL:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        yield RunDatabase(url, url)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from api.db import roles

    admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"geodispatch_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGIS_ADMIN_URL).set(database=name)
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("CREATE EXTENSION postgis"))
    # In the admin database, so that runs starting together take turns.
    with create_engine(POSTGIS_ADMIN_URL).begin() as conn:
        roles.ensure_roles(conn, owner=OWNER_ROLE, app=APP_ROLE)
    on_database = create_engine(url)
    with on_database.begin() as conn:
        roles.prepare_database(conn, owner=OWNER_ROLE, app=APP_ROLE)
    on_database.dispose()
    app_url = url.set(username=APP_ROLE, password=os.environ.get("TEST_POSTGIS_APP_PASSWORD"))
    try:
        yield RunDatabase(
            app_url.render_as_string(hide_password=False),
            url.render_as_string(hide_password=False),
            OWNER_ROLE,
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(test_database: RunDatabase) -> str:
    """URL of the run's database as the service connects to it (PostGIS: as the app role)."""
    return test_database.url


@pytest.fixture(scope="session")
def admin_engine(test_database: RunDatabase, engine: Engine) -> Iterator[Engine]:
    """The migrated test database as its administrator.

    On PostGIS the superuser, for a clean-up the service's role may not do (removing ledger
    rows with ``session_replication_role = replica``); on SpatiaLite an engine on the file.
    """
    from api.db.spatial import make_engine

    admin = make_engine(test_database.admin_url)
    yield admin
    admin.dispose()


@pytest.fixture(scope="session")
def engine(test_database: RunDatabase) -> Iterator[Engine]:
    """The migrated test database, with the demo city's regions loaded, as the service sees it.

    On PostGIS the migrations run as the owner role (from the superuser's connection) and grant
    the app role its privileges, as ``geodispatch db upgrade`` does; the engine is the app role's.
    """
    from sqlalchemy.orm import Session

    from api.datafiles import load_regions
    from api.db import migrate
    from api.db.spatial import make_engine
    from api.regions import repository as region_repo

    engine = make_engine(test_database.url)
    if test_database.owner_role is None:
        migrate.upgrade(engine)
    else:
        admin = make_engine(test_database.admin_url)
        as_roles = migrate.MigrationRoles(owner=test_database.owner_role, app=APP_ROLE)
        migrate.upgrade(admin, roles=as_roles)
        admin.dispose()
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
