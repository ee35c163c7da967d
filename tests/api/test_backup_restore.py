"""A PostGIS database backed up and restored into a new one (``scripts/db-backup.sh``,
``scripts/db-restore.sh``, docs/operations.md "Backup and restore"), end to end.

A demo day is stored through the API as the service's role, backed up, restored into a new
database, handed to the roles by ``geodispatch db roles``, and compared table by table; the service
then reads and writes the restored copy (ids continue, keyed retries still replay).
"""

import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.auth import Role, create_key
from api.cli import app as cli
from api.config import PROJECT_ROOT, Settings
from api.datafiles import load_regions
from api.db import migrate, roles
from api.db.spatial import make_engine
from api.demo.city import DaySize, city_day
from api.demo.client import DemoApi
from api.demo.seeder import DemoDay, _orders, _put_technician, ensure_rate_card
from api.main import create_app
from api.regions import repository as region_repo
from tests.conftest import APP_ROLE, DEMO_REGIONS, OWNER_ROLE, POSTGIS_ADMIN_URL

pytestmark = pytest.mark.postgis
BACKUP = PROJECT_ROOT / "scripts" / "db-backup.sh"
RESTORE = PROJECT_ROOT / "scripts" / "db-restore.sh"


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """Two new PostGIS databases prepared for the roles; their superuser URLs by name."""
    assert POSTGIS_ADMIN_URL is not None
    admin = create_engine(POSTGIS_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = {which: f"geodispatch_{which}_{uuid.uuid4().hex[:10]}" for which in ("live", "copy")}
    urls = {}
    try:
        for which, name in names.items():
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(POSTGIS_ADMIN_URL).set(database=name)
            with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("CREATE EXTENSION postgis"))
            urls[which] = url.render_as_string(hide_password=False)
        yield urls
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _as_app(admin_url: str) -> str:
    return make_url(admin_url).set(username=APP_ROLE).render_as_string(hide_password=False)


def _hand_to_roles(admin_url: str) -> None:
    """What ``geodispatch db roles`` does to a database: the owner owns it, the app is let in."""
    engine = create_engine(admin_url)
    with engine.begin() as conn:
        roles.prepare_database(conn, owner=OWNER_ROLE, app=APP_ROLE)
    engine.dispose()


def _store_a_demo_day(admin_url: str, folder: Path) -> dict[str, str]:
    """Migrate, then store a small demo day through the API as the service's role."""
    _hand_to_roles(admin_url)
    admin = make_engine(admin_url)
    migrate.upgrade(admin, roles=migrate.MigrationRoles(owner=OWNER_ROLE, app=APP_ROLE))
    admin.dispose()
    engine = make_engine(_as_app(admin_url))
    with Session(engine) as session, session.begin():
        region_repo.replace_all(session, regions=load_regions(DEMO_REGIONS, max_vertices=20_000))
        tokens = {
            "admin": create_key(session, role=Role.ADMIN, name="admin")[1],
            "integrator": create_key(session, role=Role.INTEGRATOR, name="shop", source="shop")[1],
        }
    engine.dispose()
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.combine(datetime.now(zone).date() + timedelta(days=1), datetime.min.time(), zone)
    city = city_day(now.replace(hour=10), DaySize(technicians=4, orders=12), seed=3)
    day = DemoDay(city.day, {str(t["id"]): t for t in city.technicians})
    with TestClient(create_app(Settings(database_url=_as_app(admin_url)))) as client:
        api = DemoApi(client, {"admin": tokens["admin"], "dispatcher": tokens["admin"],
                               "integrator": tokens["integrator"]})  # fmt: skip
        ensure_rate_card(api)
        for body in city.technicians:
            _put_technician(api, body)
        _orders(api, city, day)
        tech = sorted(day.technicians)[0]
        bonus = {"kind": "adjustment", "amount": {"amount": "25.00"}, "memo": "backup check"}
        api.must("admin", "POST", f"/v1/earnings/{tech}/adjustments", json=bonus)
    return tokens


def _digests(admin_url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows (in a stable order)."""
    engine = create_engine(admin_url)
    with engine.connect() as conn:
        tables = sorted(inspect(conn).get_table_names())
        found = {
            table: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                        f"ORDER BY t::text), '')) FROM \"{table}\" t"
                    )
                ).one()
            )
            for table in tables
        }
    engine.dispose()
    return found


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=120)


def test_a_backup_restores_into_a_new_database_that_the_service_then_uses(
    databases: dict[str, str], tmp_path: Path
) -> None:
    tokens = _store_a_demo_day(databases["live"], tmp_path)
    dump = tmp_path / "geodispatch.dump"

    backed_up = _run(BACKUP, databases["live"], dump)
    assert backed_up.returncode == 0, backed_up.stderr
    assert "schema revision" in backed_up.stdout and not dump.with_suffix(".dump.partial").exists()
    restored = _run(RESTORE, dump, databases["copy"])
    assert restored.returncode == 0, restored.stderr
    given = CliRunner().invoke(
        cli, ["db", "roles", "--admin-url", databases["copy"], "--owner", OWNER_ROLE],
        env={"GEODISPATCH_DATABASE_URL": _as_app(databases["copy"])},
    )  # fmt: skip
    assert given.exit_code == 0, given.output

    live, copy = _digests(databases["live"]), _digests(databases["copy"])
    assert copy == live
    assert live["ticket"][0] == 12 and live["ledger_entry"][0] >= 1

    settings = Settings(database_url=_as_app(databases["copy"]))
    integrator = {"Authorization": f"Bearer {tokens['integrator']}"}
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v1/tickets", headers=integrator)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 12
        highest = max(t["id"] for t in listed.json()["items"])
        ticket = {"external_id": "after-restore", "type": "repair", "location": [121.47, 31.23],
                  "address": "restored", "duration_min": 30}  # fmt: skip
        keyed = {**integrator, "Idempotency-Key": "after-restore-1"}
        created = client.post("/v1/tickets", json=ticket, headers=keyed)
        assert created.status_code == 201, created.text
        assert created.json()["id"] > highest  # the sequences came back with the rows
        again = client.post("/v1/tickets", json=ticket, headers=keyed)
        assert again.status_code == 201 and again.json()["id"] == created.json()["id"]


def test_a_restore_over_a_database_with_tables_or_from_a_bad_file_changes_nothing(
    databases: dict[str, str], tmp_path: Path
) -> None:
    _store_a_demo_day(databases["live"], tmp_path)
    before = _digests(databases["live"])
    dump = tmp_path / "geodispatch.dump"
    assert _run(BACKUP, databases["live"], dump).returncode == 0

    over = _run(RESTORE, dump, databases["live"])
    assert over.returncode == 1 and "already has" in over.stderr
    assert _digests(databases["live"]) == before

    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    broken = _run(RESTORE, truncated, databases["copy"])
    assert broken.returncode != 0
    assert set(_digests(databases["copy"])) == {"spatial_ref_sys"}  # nothing half-restored

    missing = _run(BACKUP, make_url(databases["live"]).set(database="no_such_db_x"), dump)
    assert missing.returncode != 0 and dump.exists()  # the last good backup is kept
