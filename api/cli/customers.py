"""``geodispatch customers tiers``: recompute every customer's value tier (daily, from cron)."""

from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.cli.common import fail, reports_errors
from api.cli.service import configured_engine
from api.config import get_settings
from api.customers.valuation import policy_of, recompute
from api.customers.value_tiers import InvalidTierPolicy
from api.regions import repository as region_repo
from geo.regions import RegionIndex

customers = typer.Typer(help="Customers: value tiers.", no_args_is_help=True)


@customers.command("tiers")
@reports_errors
def tiers(
    as_of: Annotated[
        str | None,
        typer.Option(help="score as of this time (ISO 8601 with its offset; default: now)"),
    ] = None,
) -> None:
    """Score every customer's recency, frequency and spend; store their tiers (one transaction)."""
    at = utc_now() if as_of is None else _timestamp(as_of)
    settings = get_settings()
    try:
        policy = policy_of(settings.value_tiers_file)
    except (OSError, InvalidTierPolicy) as err:
        raise fail(f"value-tier policy {settings.value_tiers_file}: {err}") from err
    engine = configured_engine()
    with Session(engine) as session:
        regions = RegionIndex(region_repo.list_regions(session))
        counts = recompute(session, policy=policy, as_of=at, regions=regions)
    engine.dispose()
    shown = ", ".join(f"{tier.name} {counts.get(tier.name, 0)}" for tier in policy.tiers)
    typer.echo(
        f"{sum(counts.values())} customers scored under {policy.id} v{policy.version}: {shown}"
    )


def _timestamp(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as err:
        raise fail(f"--as-of {text!r} is not an ISO 8601 time: {err}") from err
    if at.utcoffset() is None:
        raise fail("--as-of needs a UTC offset, e.g. 2026-12-03T03:00:00+08:00")
    return at
