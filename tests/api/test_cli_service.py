"""``geodispatch db upgrade`` and ``demo load``: clear errors, exit 1, nothing half-done."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from api.config import get_settings
from api.db.spatial import make_engine
from api.db.tables import RegionRow

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SpatiaLite file configured through the environment, as a user would."""
    url = f"sqlite:///{tmp_path / 'var' / 'cli.sqlite'}"
    monkeypatch.setenv("GEODISPATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def region_count(url: str) -> int:
    with Session(make_engine(url)) as session:
        return session.scalar(select(func.count(RegionRow.id))) or 0


def test_upgrade_then_load_the_demo_city(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "loaded 30 regions" in result.output
    assert region_count(database) == 30
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0  # re-runnable
    assert region_count(database) == 30


def test_invalid_regions_file_exits_1_and_writes_nothing(database: str, tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    runner.invoke(app, ["demo", "load"])
    bowtie = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "bowtie",
                "properties": {"name_zh": "坏", "name_en": "bad", "level": "zone"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[121, 31], [122, 32], [122, 31], [121, 32], [121, 31]]],
                },
            }
        ],
    }
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(bowtie))
    result = runner.invoke(app, ["demo", "load", "--regions", str(bad)])
    assert result.exit_code == 1
    assert "bowtie" in result.output and "Traceback" not in result.output
    assert region_count(database) == 30  # the previous regions are intact


@pytest.mark.parametrize("content", ["{not json", None])
def test_unreadable_regions_file_exits_1(
    database: str, tmp_path: Path, content: str | None
) -> None:
    runner.invoke(app, ["db", "upgrade"])
    path = tmp_path / "regions.geojson"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["demo", "load", "--regions", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.output.replace("\n", "")
