"""Databases made for one run: a SpatiaLite file or a fresh PostGIS database, migrated, keyed.

A run gets the demo regions and the demo's staff keys (admin, dispatcher, and an integrator of
source ``demo-shop``); the benchmarks then talk to the service over HTTP only, and audit the
database directly at the end.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from api.config import get_settings
from api.demo.keys import INTEGRATOR_SOURCE, create_staff_keys
from api.demo.service import prepared_engine
from benchmarks.api_load import fresh_database

SPATIALITE, POSTGIS = "spatialite", "postgis"


@dataclass(frozen=True)
class RunDatabase:
    """A migrated database with the demo regions: its URL, kind and the staff tokens."""

    url: str
    kind: str
    tokens: dict[str, str]
    source: str = INTEGRATOR_SOURCE

    @property
    def principal(self) -> str:
        """How the integrator's idempotency keys are stored (``api.idempotency``)."""
        return f"source:{self.source}"


def prepare(url: str) -> RunDatabase:
    """Migrate ``url``, load the demo regions and make the staff keys."""
    settings = get_settings().model_copy(update={"database_url": url})
    engine = prepared_engine(settings)
    tokens = create_staff_keys(engine)
    kind = engine.dialect.name
    engine.dispose()
    return RunDatabase(url, POSTGIS if kind == "postgresql" else SPATIALITE, tokens)


@contextmanager
def run_database(kind: str, admin_url: str) -> Iterator[RunDatabase]:
    """Yield a prepared database of ``kind`` for one run; remove it afterwards, whatever happens."""
    if kind == POSTGIS:
        with fresh_database(admin_url) as url:
            yield prepare(url)
        return
    folder = Path(tempfile.mkdtemp(prefix="geodispatch-reliability-"))
    try:
        yield prepare(f"sqlite:///{folder / 'bench.sqlite'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def server_version(engine: Engine) -> str:
    """``PostgreSQL 15.x`` or ``SQLite 3.x + SpatiaLite 5.x``, for the figures."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return str(conn.execute(text("SELECT version()")).scalar()).split(" on ")[0]
        sqlite = conn.execute(text("SELECT sqlite_version()")).scalar()
        spatialite = conn.execute(text("SELECT spatialite_version()")).scalar()
        return f"SQLite {sqlite} + SpatiaLite {spatialite}"
