"""``geodispatch settle pending``: settle the confirmed tickets of the configured database."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.cli.common import reports_errors
from api.cli.service import configured_engine
from api.regions import repository as region_repo
from api.settlement.service import settle_pending
from geo.regions import RegionIndex


@reports_errors
def settle_pending_command(
    limit: Annotated[int, typer.Option(min=1, help="settle at most this many tickets")] = 1000,
) -> None:
    """Settle tickets still confirmed (oldest first); list any that stay so, and why."""
    engine = configured_engine()
    with Session(engine) as session:  # each ticket is committed on its own
        regions = RegionIndex(region_repo.list_regions(session))
        attempts = settle_pending(session, now=utc_now(), regions=regions, limit=limit)
    engine.dispose()
    settled = [a for a in attempts if a.settled is not None]
    refused = [a for a in attempts if a.refusal is not None]
    console = Console()
    console.print(f"settled {len(settled)} of {len(attempts)} confirmed tickets")
    if refused:
        table = Table("ticket", "still confirmed because")
        for attempt in refused:
            table.add_row(str(attempt.ticket_id), attempt.refusal)
        console.print(table)
        raise typer.Exit(1)
