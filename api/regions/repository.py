"""Regions in the database: Session in, ``geo.Region`` values out."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shapely.geometry import MultiPolygon, Polygon, box

from api.db.spatial import SRID, from_wkb, to_wkb
from api.db.tables import RegionRow
from geo.regions import Region


def _as_multipolygon(geometry: Polygon | MultiPolygon) -> MultiPolygon:
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])


def _to_region(row: RegionRow) -> Region:
    geometry = from_wkb(row.geometry)
    assert isinstance(geometry, MultiPolygon), "the region column holds MULTIPOLYGONs"
    return Region(
        id=row.id,
        name_zh=row.name_zh,
        name_en=row.name_en,
        level=row.level,
        geometry=geometry,
        priority=row.priority,
        attributes=row.attributes,
        parent_id=row.parent_id,
    )


def _row(region: Region) -> RegionRow:
    return RegionRow(
        id=region.id,
        name_zh=region.name_zh,
        name_en=region.name_en,
        level=region.level,
        priority=region.priority,
        parent_id=region.parent_id,
        attributes=dict(region.attributes),
        area_m2=region.area_m2,
        geometry=to_wkb(_as_multipolygon(region.geometry)),
    )


def replace_all(session: Session, *, regions: Sequence[Region]) -> None:
    """Replace every stored region with ``regions`` (validated by the caller), in one flush."""
    session.execute(delete(RegionRow))
    session.add_all(_row(region) for region in regions)
    session.flush()


def upsert(session: Session, *, regions: Sequence[Region]) -> int:
    """Store ``regions``, replacing stored ones with the same id and keeping the others.

    Returns how many stored regions were replaced. Rows are deleted and inserted again rather
    than updated, so each gets a new ``updated_at`` and :func:`signature` changes.
    """
    ids = [region.id for region in regions]
    stored = RegionRow.id.in_(ids)
    replaced = session.scalar(select(func.count(RegionRow.id)).where(stored)) or 0
    session.execute(delete(RegionRow).where(stored))
    session.add_all(_row(region) for region in regions)
    session.flush()
    return replaced


def list_regions(
    session: Session,
    *,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[Region]:
    """List stored regions, optionally of one level or intersecting a lon/lat box."""
    query = select(RegionRow).order_by(RegionRow.priority, RegionRow.id)
    if level is not None:
        query = query.where(RegionRow.level == level)
    if bbox is not None:
        envelope = func.ST_GeomFromText(box(*bbox).wkt, SRID)
        query = query.where(func.ST_Intersects(RegionRow.geometry, envelope))
    return [_to_region(row) for row in session.scalars(query)]


def signature(session: Session) -> tuple[int, float, int, str]:
    """Return a cheap fingerprint that changes whenever the stored regions change."""
    count, area, priority, latest = session.execute(
        select(
            func.count(RegionRow.id),
            func.sum(RegionRow.area_m2),
            func.sum(RegionRow.priority),
            func.max(RegionRow.updated_at),
        )
    ).one()
    return int(count), float(area or 0.0), int(priority or 0), str(latest)
