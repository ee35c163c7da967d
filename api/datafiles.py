"""Reading the project's data files (GeoJSON, JSON) into domain values, with clear errors."""

import json
from pathlib import Path
from typing import Any

from geo.geojson import regions_from_geojson
from geo.regions import Region


class DataFileError(Exception):
    """A data file is missing, unreadable or not what it should be."""

    code = "data_file_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


def read_json(path: Path) -> Any:
    """Parse a JSON file, naming the file and the line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataFileError(f"cannot read {path}: {err.strerror}", path=str(path)) from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}",
            path=str(path),
        ) from err


def load_regions(path: Path, *, max_vertices: int) -> list[Region]:
    """Load and validate the regions of a GeoJSON FeatureCollection file."""
    return regions_from_geojson(read_json(path), max_vertices=max_vertices)
