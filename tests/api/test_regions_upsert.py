"""Storing imported regions (``regions import --merge``) on both databases: replace by id."""

from sqlalchemy.orm import Session

from shapely.geometry import MultiPolygon, box

from api.regions import repository as region_repo
from geo.regions import Region


def _zone(region_id: str, west: float, name: str = "测试") -> Region:
    shape = MultiPolygon([box(west, 31.20, west + 0.05, 31.25)])
    return Region(region_id, name, f"Zone {region_id}", "zone", shape, priority=40,
                  parent_id="310000", attributes={"coefficient": "1.30"})  # fmt: skip


def test_upsert_replaces_same_ids_and_keeps_the_rest(session: Session) -> None:
    before = {r.id for r in region_repo.list_regions(session)}
    assert region_repo.upsert(session, regions=[_zone("z-990001", 121.40)]) == 0
    replaced = region_repo.upsert(
        session, regions=[_zone("z-990001", 121.60, name="改"), _zone("z-990002", 121.30)]
    )
    assert replaced == 1
    stored = {r.id: r for r in region_repo.list_regions(session)}
    assert set(stored) == before | {"z-990001", "z-990002"}
    moved = stored["z-990001"]
    assert moved.name_zh == "改" and moved.geometry.bounds[0] == 121.60
    assert moved.attributes["coefficient"] == "1.30" and moved.parent_id == "310000"
    found = region_repo.list_regions(session, level="zone", bbox=(121.61, 31.21, 121.62, 31.22))
    assert [r.id for r in found] == ["z-990001"]  # the spatial index sees the new geometry
