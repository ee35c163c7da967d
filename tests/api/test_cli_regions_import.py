"""``geodispatch regions import``: GIS files in, regions stored all or nothing.

Every file is written by geopandas into ``tmp_path``: three small Shanghai districts (one
drawn as a bow-tie that ``make_valid`` repairs) in GCJ-02 GeoJSON, a two-layer GeoPackage in
Web Mercator (EPSG:3857) and a Shapefile in CGCS2000 (EPSG:4490). The CLI writes to its own
SpatiaLite file (copied from a migrated template holding the demo city's 30 regions), so its
real commits never touch the shared test database.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

import geopandas
import shapely
from shapely.geometry import Polygon, box

from api.config import PROJECT_ROOT, get_settings
from api.datafiles import load_regions, read_region_mapping
from api.db import migrate
from api.db.spatial import make_engine
from api.regions import repository as region_repo
from geo.coords import wgs84_to_gcj02
from geo.region_table import FeatureTable, regions_from_table
from geo.regions import Region

# GDAL (GeoPackage files, PROJ's database) brings its own SQLite, and the SpatiaLite this
# process loads for its checks is loaded globally: the two in one process crash. So the files
# are written, and the CLI runs, in processes of their own, as a user's would.
WRITE_FILE = """
import json, sys
import geopandas
frame = geopandas.GeoDataFrame.from_features(json.load(sys.stdin)["features"], crs=sys.argv[1])
frame.to_file(sys.argv[2], **json.loads(sys.argv[3]))
"""
DEMO_REGIONS = PROJECT_ROOT / "data" / "regions.geojson"
EXAMPLE_MAPPING = PROJECT_ROOT / "data" / "region-mapping.example.toml"
MAPPING = """
[fields]
id = "adcode"
name_zh = "name"
name_en = "name_en"
level = "kind"
priority = "prio"

[levels]
"区" = "district"

[attributes]
coefficient = "coef"
team = "team"

[defaults]
time_zone = "Asia/Shanghai"
"""
SQUARE = box(121.40, 31.20, 121.45, 31.25)
BOWTIE = Polygon([(121.50, 31.20), (121.55, 31.25), (121.55, 31.20), (121.50, 31.25)])


def districts(*geometries: object) -> geopandas.GeoDataFrame:
    """Districts 990101, 990104, ... (ids unused by the demo city) in WGS84, one per geometry.

    SQUARE and BOWTIE by default.
    """
    shapes = list(geometries) or [SQUARE, BOWTIE]
    n = len(shapes)
    return geopandas.GeoDataFrame(
        {
            "adcode": [990101.0 + 3 * i for i in range(n)],  # a float column, as Shapefiles have
            "name": [f"测试区{i}" for i in range(n)],
            "name_en": [f"Test {i}" for i in range(n)],
            "kind": ["区"] * n,
            "prio": [2] * n,
            "coef": [1.2] * n,
            "team": ["east"] * n,
        },
        geometry=shapes,
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SpatiaLite file holding the demo city's 30 regions."""
    path = tmp_path_factory.mktemp("regions-import") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        region_repo.replace_all(session, regions=load_regions(DEMO_REGIONS, max_vertices=20_000))
    engine.dispose()
    return path


@pytest.fixture
def database(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's copy of the template, configured through the environment as a user would."""
    path = tmp_path / "cli.sqlite"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("GEODISPATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def stored(url: str) -> dict[str, Region]:
    engine = make_engine(url)
    with Session(engine) as session:
        regions = {region.id: region for region in region_repo.list_regions(session)}
    engine.dispose()
    return regions


def write(frame: geopandas.GeoDataFrame, path: Path, **options: str) -> None:
    """Write ``frame`` (in its own CRS) to a GIS file, in another process."""
    command = [sys.executable, "-c", WRITE_FILE, str(frame.crs), str(path), json.dumps(options)]
    done = subprocess.run(command, input=frame.to_json(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def import_(*args: object) -> tuple[int, str]:
    command = [sys.executable, "-m", "api.cli", "regions", "import", *(str(a) for a in args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    return done.returncode, output


def test_gcj02_geojson_is_shifted_to_wgs84_and_merged(
    database: str, mapping: Path, tmp_path: Path
) -> None:
    frame = districts()
    on_amap = shapely.transform(SQUARE, lambda xy: np.column_stack(wgs84_to_gcj02(*xy.T)))
    frame.geometry = [on_amap, BOWTIE]
    path = tmp_path / "districts.geojson"
    write(frame, path, engine="pyogrio")

    code, output = import_(path, "--crs", "gcj02", "--mapping", mapping)

    assert code == 0, output
    assert "imported 2 regions (2 district)" in output
    assert "warning: feature 1 (id '990104'): invalid (Self-intersection" in output
    assert "repaired by make_valid" in output
    regions = stored(database)
    assert len(regions) == 32  # merged: the demo city's 30 kept
    square = regions["990101"]
    assert square.geometry.bounds == pytest.approx(SQUARE.bounds, abs=1e-6)
    assert (square.name_zh, square.name_en, square.level, square.priority) == (
        "测试区0", "Test 0", "district", 2
    )  # fmt: skip
    assert dict(square.attributes) == {
        "coefficient": "1.2", "team": "east", "time_zone": "Asia/Shanghai"
    }  # fmt: skip
    assert regions["990104"].geometry.is_valid
    assert regions["990104"].geometry.area == pytest.approx(
        shapely.make_valid(BOWTIE).area, rel=0.01
    )


def test_geopackage_in_web_mercator_needs_its_layer(
    database: str, mapping: Path, tmp_path: Path
) -> None:
    path = tmp_path / "areas.gpkg"
    write(districts().to_crs(3857), path, layer="districts", engine="pyogrio")
    write(districts(SQUARE), path, layer="other", engine="pyogrio")

    code, output = import_(path, "--mapping", mapping)
    assert code == 1
    assert "has 2 layers (districts, other): choose one with --layer" in output

    code, output = import_(path, "--mapping", mapping, "--layer", "districts", "--replace")
    assert code == 0, output
    regions = stored(database)
    assert set(regions) == {"990101", "990104"}  # --replace: only the file's regions
    assert regions["990101"].geometry.bounds == pytest.approx(SQUARE.bounds, abs=1e-6)


def test_shapefile_in_cgcs2000_with_the_default_mapping(database: str, tmp_path: Path) -> None:
    frame = districts(SQUARE).rename(columns={"adcode": "id", "name": "name_zh"})
    frame["level"] = "zone"
    path = tmp_path / "zones.shp"
    write(frame.to_crs(4490), path, engine="pyogrio")

    code, output = import_(path)

    assert code == 0, output
    zone = stored(database)["990101"]  # a float column, stored as an id without ".0"
    assert zone.level == "zone"
    assert zone.geometry.bounds == pytest.approx(SQUARE.bounds, abs=1e-6)
    assert dict(zone.attributes) == {"coef": "1.2", "kind": "区", "prio": 2, "team": "east"}


def test_one_refused_feature_stores_nothing(database: str, mapping: Path, tmp_path: Path) -> None:
    before = stored(database)
    path = tmp_path / "districts.geojson"
    write(districts(SQUARE, BOWTIE, Polygon()), path, engine="pyogrio")

    code, output = import_(path, "--mapping", mapping, "--replace")

    assert code == 1
    assert "refused: feature 2 (id '990107'): empty geometry" in output
    assert output.strip().splitlines()[-1] == (
        "error: 1 of 3 features refused; nothing imported (--skip-invalid imports the others)"
    )
    assert stored(database).keys() == before.keys()

    code, output = import_(path, "--mapping", mapping, "--skip-invalid")
    assert code == 0, output
    assert {"990101", "990104"} <= stored(database).keys()
    assert "990107" not in stored(database)


def test_dry_run_stores_nothing(database: str, mapping: Path, tmp_path: Path) -> None:
    path = tmp_path / "districts.geojson"
    write(districts(), path, engine="pyogrio")
    code, output = import_(path, "--mapping", mapping, "--dry-run")
    assert code == 0, output
    assert "dry run: 2 regions (2 district) would be imported" in output
    assert "990101" not in stored(database)


@pytest.mark.parametrize(
    ("mapping_text", "message"),
    [
        (MAPPING.replace('name_zh = "name"', 'name_zh = "NAME_CHN"'),
         "column 'NAME_CHN' (for name_zh) is not in the file"),
        ('[fields]\nid = "adcode"\n', "no column for name_zh: map one in [fields]"),
        ("[fields\n", "invalid TOML"),
        ('[colums]\nid = "adcode"\n', "unknown mapping keys ['colums']"),
        ('[levels]\n"区" = "county"\n', "[levels] ['county'] are not levels"),
    ],
)  # fmt: skip
def test_bad_mappings_end_with_one_line(
    database: str, tmp_path: Path, mapping_text: str, message: str
) -> None:
    path = tmp_path / "districts.geojson"
    write(districts(), path, engine="pyogrio")
    (tmp_path / "bad.toml").write_text(mapping_text, encoding="utf-8")

    code, output = import_(path, "--mapping", tmp_path / "bad.toml")

    assert code == 1
    assert len(output.strip().splitlines()) == 1 and message in output, output


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"name": None}, "missing name_zh"),
        ({"kind": "镇"}, "level '镇' is not one of"),
        ({"prio": "high"}, "priority must be an integer, got 'high'"),
        ({"adcode": 990101.0}, "id repeats feature 0"),
    ],
)
def test_refusals_name_the_feature_and_the_reason(cells: dict[str, object], reason: str) -> None:
    frame = districts(SQUARE, box(121.5, 31.2, 121.6, 31.3))
    rows = frame.drop(columns="geometry").astype(object).to_dict("records")
    rows[1].update(cells)
    table = FeatureTable(tuple(frame.columns[:-1]), rows, list(frame.geometry))

    result = regions_from_table(table, read_region_mapping(EXAMPLE_MAPPING))

    [refusal] = result.refused
    assert refusal.index == 1 and reason in refusal.reason
    assert [r.id for r in result.regions] == ["990101"]


def test_vertex_cap_and_out_of_range_positions_are_refused(mapping: Path) -> None:
    circle = SQUARE.centroid.buffer(0.01, quad_segs=64)
    metres = box(13_500_000, 3_600_000, 13_510_000, 3_610_000)  # EPSG:3857 read as degrees
    frame = districts(circle, metres)
    rows = frame.drop(columns="geometry").astype(object).to_dict("records")
    table = FeatureTable(tuple(frame.columns[:-1]), rows, list(frame.geometry))

    result = regions_from_table(table, read_region_mapping(mapping), max_vertices=100)

    assert [str(n) for n in result.refused] == [
        "feature 0 (id '990101'): 257 vertices exceed the cap of 100",
        "feature 1 (id '990104'): position (1.351e+07, 3.6e+06) is not lon/lat: does the file "
        "say its CRS (.prj)?",
    ]


def test_the_documented_example_mapping_reads() -> None:
    mapping = read_region_mapping(EXAMPLE_MAPPING)
    assert mapping.missing(["adcode", "name", "name_en", "kind", "prio", "coef", "team"]) == []


def test_unclosed_and_too_short_rings_are_refused(database: str, tmp_path: Path) -> None:
    def zone(region_id: str, ring: list[list[float]]) -> dict[str, object]:
        return {
            "type": "Feature",
            "properties": {"id": region_id, "name_zh": "开", "level": "zone"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    square = [[121.4, 31.2], [121.5, 31.2], [121.5, 31.3], [121.4, 31.3]]
    features = [zone("z-open", square), zone("z-three", [*square[:2], square[0]]),
                zone("z-ok", [*square, square[0]])]  # fmt: skip
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    code, output = import_(path)

    assert code == 1
    assert "do not form a closed linestring" in output  # GDAL reads it, GEOS refuses it
    assert "Too few points" in output
    assert "z-ok" not in stored(database)
