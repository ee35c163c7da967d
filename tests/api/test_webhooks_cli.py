"""``geodispatch webhooks deliver --once`` against a fresh database and a local receiver."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from api.config import get_settings
from api.db.spatial import make_engine
from api.db.tables import WebhookSubscriptionRow
from api.tickets import repository as ticket_repo
from api.tickets.rules import NewTicket

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SpatiaLite file configured through the environment, as an operator would."""
    url = f"sqlite:///{tmp_path / 'var' / 'hooks.sqlite'}"
    monkeypatch.setenv("GEODISPATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def received() -> Iterator[tuple[str, list[bytes]]]:
    """A receiver on a free port that accepts everything; yields its URL and the bodies."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve = {"poll_interval": 0.02}  # shutdown() waits up to one poll (default 0.5 s)
    threading.Thread(target=server.serve_forever, kwargs=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


def test_deliver_once(
    database: str, received: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, bodies = received
    # The receiver is on loopback, which deliveries refuse unless the operator allows it.
    monkeypatch.setenv("GEODISPATCH_WEBHOOK_ALLOW_PRIVATE_URLS", "true")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["webhooks", "deliver", "--once"]).stdout == "0 attempt(s)\n"
    now = datetime.now(UTC)
    with Session(make_engine(database)) as session, session.begin():
        session.add(
            WebhookSubscriptionRow(
                source="shop-a", url=url, event_types=["ticket.*"], secret="s" * 20,
                is_active=True, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        new = NewTicket(
            source="shop-a", external_id="SO-1", type="repair", lon=121.5, lat=31.2,
            region_id=None, address="somewhere", duration_min=30, skills={}, windows=[],
            priority="normal",
        )  # fmt: skip
        ticket_repo.create_tickets(session, tickets=[new], actor_key_id=None, now=now)
    result = runner.invoke(app, ["webhooks", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 attempt(s)\n"  # log lines, if any, go to stderr
    assert len(bodies) == 1 and b'"ticket.new"' in bodies[0]
