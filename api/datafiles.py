"""Reading the project's data files into domain values, with clear errors.

GeoJSON and JSON; boundary files (Shapefile, GeoPackage, GeoJSON) through geopandas and
pyogrio, imported only when one is read; region mapping TOML files.
"""

import json
import tomllib
import warnings
from pathlib import Path
from typing import Any

import shapely

from geo.errors import GeoError
from geo.geojson import regions_from_geojson
from geo.import_mapping import RegionMapping, mapping_from_dict
from geo.region_table import FeatureTable
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


def read_region_mapping(path: Path) -> RegionMapping:
    """Read a region mapping TOML file (``data/region-mapping.example.toml``)."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as err:
        raise DataFileError(f"cannot read {path}: {err.strerror}", path=str(path)) from err
    except tomllib.TOMLDecodeError as err:
        raise DataFileError(f"{path}: invalid TOML: {err}", path=str(path)) from err
    try:
        return mapping_from_dict(document)
    except GeoError as err:
        raise DataFileError(f"{path}: {err}", path=str(path)) from err


def read_region_table(path: Path, *, layer: str | None = None) -> FeatureTable:
    """Read a Shapefile, GeoPackage or GeoJSON layer as a table in lon/lat degrees.

    The file's CRS (its ``.prj``, the GeoPackage's SRS, GeoJSON's WGS84) is unprojected to
    EPSG:4326 with pyproj; a file without a CRS is taken as lon/lat already. A file with more
    than one layer needs ``layer``.
    """
    import pyogrio  # type: ignore[import-untyped]

    import geopandas  # type: ignore[import-untyped]

    where = {"path": str(path)}
    if not path.exists():
        raise DataFileError(f"cannot read {path}: No such file or directory", **where)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise DataFileError(
                f"{path} has {len(layers)} layers ({', '.join(layers)}): choose one with --layer",
                **where,
            )
        if layer is not None and layer not in layers:
            raise DataFileError(f"{path} has no layer {layer!r} ({', '.join(layers)})", **where)
        with warnings.catch_warnings():  # GDAL warns of unclosed rings: reported per feature
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = geopandas.read_file(path, layer=layer, engine="pyogrio", on_invalid="ignore")
        unreadable = _unreadable_geometries(path, layer, frame.geometry.isna().to_numpy())
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
        message = str(err).strip().splitlines()[0]
        raise DataFileError(f"{path}: not a readable Shapefile, GeoPackage or GeoJSON: {message}",
                            **where) from err  # fmt: skip
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        try:
            frame = frame.to_crs(epsg=4326)
        except Exception as err:  # pyproj's errors vary by CRS; any means it cannot be used
            raise DataFileError(
                f"{path}: cannot unproject {frame.crs.name}: {err}", **where
            ) from err
    cells = frame.drop(columns=frame.geometry.name).astype(object)
    cells = cells.where(cells.notna(), None)
    return FeatureTable(
        columns=tuple(str(c) for c in cells.columns),
        rows=cells.to_dict("records"),
        geometries=list(frame.geometry),
        unreadable=unreadable,
    )


def _unreadable_geometries(path: Path, layer: str | None, missing: Any) -> dict[int, str]:
    """Say why each missing geometry is missing: none in the file, or GEOS refused its WKB."""
    if not missing.any():
        return {}
    from pyogrio.raw import read  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, _, wkbs, _ = read(path, layer=layer, columns=[])
    reasons = {}
    for index in missing.nonzero()[0]:
        if wkbs[index] is None:
            continue  # no geometry at all: refused as empty
        try:
            shapely.from_wkb(wkbs[index])
        except shapely.errors.GEOSException as err:
            reasons[int(index)] = str(err).rpartition("Exception: ")[2]
    return reasons
