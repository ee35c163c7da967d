"""``geodispatch bench geo``: figures in the JSON file, clear errors and a non-zero exit."""

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
# Pinning would restrict the whole test process to one CPU, so these runs do not pin.
SMALL_RUN = [
    "bench",
    "geo",
    "--points",
    "5000",
    "--repeats",
    "1",
    "--grid-cells",
    "1024",
    "--no-one-core",
]


def test_writes_verified_figures(tmp_path: Path) -> None:
    out = tmp_path / "results" / "geo.json"
    result = runner.invoke(app, [*SMALL_RUN, "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["points"] == 5000
    assert figures["regions"] == 30
    assert figures["mismatches"] == 0
    assert figures["verified_points"] == 5000
    assert figures["locate_points_per_s"] > 0
    assert 0 < figures["points_inside_share"] < 1
    assert "points/s" in result.output


def test_missing_regions_file_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.geojson"
    result = runner.invoke(app, [*SMALL_RUN, "--regions", str(missing)])
    assert result.exit_code == 1
    assert "cannot read" in result.output
    assert "Traceback" not in result.output


def test_invalid_geometry_names_the_feature(tmp_path: Path) -> None:
    bowtie = [[[121.0, 31.0], [121.1, 31.1], [121.1, 31.0], [121.0, 31.1], [121.0, 31.0]]]
    regions = tmp_path / "bad.geojson"
    feature = {
        "type": "Feature",
        "id": "bowtie",
        "properties": {"name_zh": "蝴蝶结", "level": "zone"},
        "geometry": {"type": "Polygon", "coordinates": bowtie},
    }
    regions.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    result = runner.invoke(app, [*SMALL_RUN, "--regions", str(regions)])
    assert result.exit_code == 1
    assert "feature 0 (id 'bowtie')" in result.output
    assert "Self-intersection" in result.output
