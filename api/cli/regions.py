"""``geodispatch regions import``: an operator's own district and zone boundaries.

The file is read by :func:`api.datafiles.read_region_table` (geopandas + pyogrio, unprojected
to lon/lat), mapped and checked by :func:`geo.region_table.regions_from_table`, and stored in
one transaction: every feature or none. ``docs/regions-import.md`` is the guide.
"""

from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session

from api.cli.common import fail, reports_errors
from api.cli.service import configured_engine
from api.config import get_settings
from api.datafiles import DataFileError, read_region_mapping, read_region_table
from api.regions import repository as region_repo
from geo.import_mapping import default_mapping
from geo.region_table import TableImport, regions_from_table

regions = typer.Typer(
    help="Your own regions: district and zone boundaries from GIS files.", no_args_is_help=True
)
console = Console(stderr=True)


class SourceCrs(StrEnum):
    """``--crs`` values: the datum of the file's lon/lat coordinates."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


@regions.command("import")
@reports_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="Shapefile (.shp), GeoPackage (.gpkg) or GeoJSON")],
    crs: Annotated[
        SourceCrs, typer.Option(help="datum of the coordinates: gcj02 for AMap/Tencent, bd09 Baidu")
    ] = SourceCrs.WGS84,
    layer: Annotated[str | None, typer.Option(help="layer to read (GeoPackage)")] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="column mapping TOML (data/region-mapping.example.toml)")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace/--merge",
            help="replace every stored region, or keep those not in the file (same id: replaced)",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="check and report; store nothing")] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="store the valid features even if some are refused")
    ] = False,
) -> None:
    """Import regions from FILE in one transaction: all features or none.

    Every feature is checked: geometry, vertex cap, id, names, level.

    Each refused feature is listed with its reason; then nothing is stored (see --skip-invalid).

    Example: geodispatch regions import areas.gpkg --layer districts --crs gcj02 --mapping map.toml

    Guide: docs/regions-import.md
    """
    table = read_region_table(file, layer=layer)
    region_mapping = default_mapping(table.columns)
    if mapping is not None:
        region_mapping = read_region_mapping(mapping)
    if problems := region_mapping.missing(table.columns):
        columns = ", ".join(table.columns) or "none"
        raise DataFileError(f"{file}: {'; '.join(problems)} (columns: {columns})")
    result = regions_from_table(
        table, region_mapping, crs=crs.value, max_vertices=get_settings().max_region_vertices
    )
    _report(result)
    if result.refused and not skip_invalid:
        raise fail(
            f"{len(result.refused)} of {len(table.rows)} features refused; nothing imported "
            "(--skip-invalid imports the others)"
        )
    if not result.regions:
        raise fail(f"{file}: no region to import")
    summary = _summary(result)
    if dry_run:
        typer.echo(f"dry run: {summary} would be imported from {file}; nothing stored")
        return
    engine = configured_engine()
    with Session(engine) as session, session.begin():
        if replace:
            region_repo.replace_all(session, regions=result.regions)
            what = "replacing every stored region"
        else:
            replaced = region_repo.upsert(session, regions=result.regions)
            what = f"{replaced} replaced, others kept"
    engine.dispose()
    typer.echo(f"imported {summary} from {file} ({what})")


def _summary(result: TableImport) -> str:
    levels = Counter(region.level for region in result.regions)
    by_level = ", ".join(f"{n} {level}" for level, n in sorted(levels.items()))
    return f"{len(result.regions)} regions ({by_level})"


def _report(result: TableImport) -> None:
    """List repairs and refusals on stderr, one feature per line (easy to grep and to diff)."""
    for note in result.repaired:
        console.print(f"[yellow]warning:[/] {escape(str(note))}", highlight=False, soft_wrap=True)
    for note in result.refused:
        console.print(f"[red]refused:[/] {escape(str(note))}", highlight=False, soft_wrap=True)
