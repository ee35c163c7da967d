"""``geodispatch webhooks deliver``: the webhook delivery worker as its own process."""

import logging
import signal
from types import FrameType
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from api.cli.common import reports_errors
from api.cli.service import configured_engine
from api.config import get_settings
from api.webhooks.delivery import DeliveryPolicy, WebhookWorker

webhooks = typer.Typer(help="Webhook delivery to integrators.", no_args_is_help=True)


@webhooks.command("deliver")
@reports_errors
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="one pass (enqueue, attempt what is due), then exit")
    ] = False,
) -> None:
    """Deliver ticket status changes to subscribers until stopped (Ctrl-C or SIGTERM).

    Run one of these beside the API instead of (or as well as) the in-process worker
    (``GEODISPATCH_WEBHOOK_WORKER_ENABLED``); several may run at once on PostgreSQL.
    """
    settings = get_settings()
    logging.basicConfig(level=settings.log_level)
    engine = configured_engine()
    worker = WebhookWorker(
        sessions=lambda: Session(engine),
        policy=DeliveryPolicy.from_settings(settings),
        poll_s=settings.webhook_poll_s,
    )
    if once:
        typer.echo(f"{worker.run_once()} attempt(s)")
        return

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop(timeout_s=0)

    signal.signal(signal.SIGTERM, _stop)
    typer.echo("delivering webhooks; Ctrl-C to stop", err=True)
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
