"""``geodispatch escalations run``: one pass of the escalation rules, printing what fired."""

import logging

import typer
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.cli.common import fail, reports_errors
from api.cli.service import configured_engine
from api.config import get_settings
from api.escalations import service
from api.watched_files import RulesFileError

escalations = typer.Typer(help="Escalation and approval rules.", no_args_is_help=True)


@escalations.command("run")
@reports_errors
def run() -> None:
    """Evaluate the escalation rules once, now: record and act on what fires, print it.

    The service does this on a schedule (``GEODISPATCH_ESCALATION_INTERVAL_S``); run this from
    cron instead when that is 0, or to see at once what the rules make of the present.
    """
    settings = get_settings()
    logging.basicConfig(level=settings.log_level)
    try:
        rules = service.rules_in_force(settings)
    except RulesFileError as err:  # its message names the file and the field
        raise fail(f"escalation rules: {err}") from err
    engine = configured_engine()
    try:
        with Session(engine) as session:
            fired = service.evaluate_due(
                session, utc_now(), rules=rules, at_risk_margin=service.at_risk_margin(settings)
            )
    finally:
        engine.dispose()
    for f in fired:
        done = "; ".join(_action_text(a) for a in f.actions) or "nothing to do"
        typer.echo(f"{f.rule_id} fired on {f.subject_kind} {f.subject_id} ({f.condition_key}): "
                   f"{done}; {f.deliveries} webhook deliveries")  # fmt: skip
    typer.echo(f"{len(fired)} firing(s) under {rules.key}")


def _action_text(action: dict[str, object]) -> str:
    details = ", ".join(f"{k}={v}" for k, v in action.items() if k != "action")
    return f"{action['action']} ({details})"
