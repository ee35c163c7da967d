"""Everything that differs between PostGIS and SpatiaLite: engines, geometry columns, WKB."""

from typing import Any

import pysqlite3.dbapi2 as sqlite_dbapi
from sqlalchemy import Engine, create_engine, event

from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

SRID = 4326
#: Connections per process (PostgreSQL): a few more than the requests one process can usefully
#: run at once. Python runs one thread at a time, so more connections only add threads that
#: fight for the interpreter lock while PostgreSQL backends fight for the cores: measured on two
#: cores, two processes with 15 connections each served 119 ticket POSTs/s at 32 concurrent
#: requests, with 4 each 205/s. Requests beyond the pool wait for a connection (``pool_timeout``).
POOL_SIZE = 4


def geometry_column(geometry_type: str) -> Geometry:
    """Return a WGS84 geometry column type with a spatial index (GiST or R*Tree)."""
    return Geometry(geometry_type=geometry_type, srid=SRID, spatial_index=True)


def to_wkb(geometry: BaseGeometry) -> WKBElement:
    """Convert a shapely geometry (lon, lat) to a column value."""
    return from_shape(geometry, srid=SRID)


def from_wkb(value: WKBElement) -> BaseGeometry:
    """Convert a column value to a shapely geometry (lon, lat)."""
    return to_shape(value)


def lonlat(value: WKBElement) -> tuple[float, float]:
    """Return the ``(lon, lat)`` of a stored point."""
    point = to_shape(value)
    assert isinstance(point, Point), "location columns hold POINTs"
    return float(point.x), float(point.y)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite + SpatiaLite backend."""
    return url.startswith("sqlite")


def make_engine(
    url: str, *, spatialite_library_path: str = "mod_spatialite", pre_ping: bool = False
) -> Engine:
    """Create the engine for ``url``; SQLite connections load SpatiaLite and behave like PostGIS.

    The stdlib ``sqlite3`` of this Python cannot load extensions, so SQLite goes through
    ``pysqlite3``.  SQLAlchemy, not the driver, issues BEGIN, so that SAVEPOINTs and rollbacks of
    whole tests work as on PostgreSQL; foreign keys are enforced as PostgreSQL does.

    Every SQLite transaction begins ``IMMEDIATE``, taking the write lock up front. A deferred
    transaction that reads first and writes later cannot be promoted while another connection
    writes: SQLite fails it with "database is locked" at once rather than wait (waiting could
    deadlock). Taking the lock at BEGIN makes writers queue on ``busy_timeout`` instead, and it
    keeps ``max(id)`` and read-then-insert checks stable until commit. Readers queue too; an
    embedded database serves one writer at a time anyway.

    PostgreSQL connections are not pinged before use unless ``pre_ping``: the ping is a round
    trip on every request (about 0.9 ms of CPU for a ticket POST that needs 4 ms in all). Without
    it a connection the server dropped fails the one request that finds it (503, see
    ``api.errors``), and SQLAlchemy then replaces every pooled connection opened before it.
    """
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=pre_ping, pool_size=POOL_SIZE, max_overflow=0)
    # SpatiaLite links the system's PROJ and pyproj's wheel bundles its own, with the same
    # symbol names: whichever loads second binds some of its symbols to the first one's copy.
    # pyproj loaded after SpatiaLite crashes the process at exit (a segfault or a heap abort,
    # even after a clean run); loaded first, both work. So pyproj goes first, always.
    import pyproj  # noqa: F401

    engine = create_engine(url, module=sqlite_dbapi, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _load_spatialite(dbapi_conn: Any, _record: object) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.enable_load_extension(True)
        dbapi_conn.load_extension(spatialite_library_path)
        dbapi_conn.enable_load_extension(False)
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        dbapi_conn.execute("PRAGMA busy_timeout = 10000")
        has_metadata = dbapi_conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spatial_ref_sys'"
        ).fetchone()
        if not has_metadata:
            # WGS84 only: loading every EPSG definition takes seconds and we store only 4326.
            dbapi_conn.execute("SELECT InitSpatialMetadata(1, 'WGS84')")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
