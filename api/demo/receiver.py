"""The demo's webhook receiver: where the demo shop's escalations are delivered.

An HTTP server on 127.0.0.1 (a free port) in a thread of the demo process, standing in for a
shop's paging tool. It checks each delivery's signature with the subscription's secret as a
receiver should (``api.webhooks.delivery.verify``: raw body, constant time, five minutes'
tolerance), records what it names (event, ticket or lead, rule, whom to notify) and answers 204.
A delivery it cannot trust or read is answered 4xx and recorded as rejected, with the reason.
"""

import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api.webhooks.delivery import SIGNATURE_HEADER, verify

log = logging.getLogger("geodispatch.demo")
PATH = "/escalations"
MAX_BODY_BYTES = 1024 * 1024  # an escalation is a few hundred bytes; refuse to buffer more


@dataclass(frozen=True, slots=True)
class ReceivedDelivery:
    """One POST to the receiver: what it named, whether it was signed right, and if refused, why.

    ``subject_kind`` is ``ticket`` or ``lead`` (``None`` when the body does not say);
    ``notify`` names each recipient (``sup-pudong (region 310115)``, ``role dispatcher``).
    """

    received_at: datetime
    delivery_id: str | None
    event_type: str | None
    subject_kind: str | None
    subject_id: int | None
    rule_id: str | None
    notify: tuple[str, ...]
    is_signature_valid: bool
    rejection: str | None = None

    @property
    def is_accepted(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.rejection is None


class DeliveryRefused(Exception):
    """A POST the receiver answers 4xx: the status, the reason recorded, whether it was signed."""

    def __init__(self, status: int, reason: str, *, is_signature_valid: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.is_signature_valid = is_signature_valid


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Log a request that broke off (a client gone mid-answer) in one line, not a traceback."""
        log.warning("demo receiver: a request from %s failed: %r", client_address,
                    sys.exc_info()[1])  # fmt: skip


class DemoReceiver:
    """Receive, verify and record signed deliveries on ``url`` until :meth:`stop`.

    ``on_delivery`` (optional) is called, in the server's thread, with each accepted delivery.
    """

    def __init__(
        self, secret: str, *, on_delivery: Callable[[ReceivedDelivery], None] | None = None
    ) -> None:
        self.secret = secret
        self._on_delivery = on_delivery
        self._received: list[ReceivedDelivery] = []
        self._changed = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="demo-webhook-receiver", daemon=True,
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def received(self) -> list[ReceivedDelivery]:
        """Every POST so far, accepted or rejected, in order of arrival."""
        with self._changed:
            return list(self._received)

    @property
    def accepted(self) -> list[ReceivedDelivery]:
        """The deliveries answered 2xx, in order of arrival."""
        return [r for r in self.received if r.is_accepted]

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` deliveries were accepted, at most ``timeout_s``; return whether."""
        with self._changed:
            return self._changed.wait_for(
                lambda: sum(r.is_accepted for r in self._received) >= count, timeout_s
            )

    def record(self, delivery: ReceivedDelivery) -> None:
        """Keep ``delivery`` and tell whoever waits or listens."""
        with self._changed:
            self._received.append(delivery)
            self._changed.notify_all()
        if delivery.is_accepted and self._on_delivery is not None:
            self._on_delivery(delivery)

    def judge(self, headers: dict[str, str], body: bytes) -> ReceivedDelivery:
        """Verify and read one POST (``headers`` lower-cased); raise ``DeliveryRefused`` if bad."""
        header = headers.get(SIGNATURE_HEADER.lower(), "")
        if not verify(self.secret, header, body, now_s=time.time()):
            raise DeliveryRefused(401, "bad or expired signature" if header else "no signature")
        try:
            event = json.loads(body)
        except ValueError:  # also bytes that are not UTF-8
            raise DeliveryRefused(400, "the body is not JSON", is_signature_valid=True) from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise DeliveryRefused(400, "not an event with data", is_signature_valid=True)
        return _read_event(headers, event)


def new_secret() -> str:
    """Return a signing secret for the demo's subscription (fresh at every start)."""
    return f"whsec_demo_{secrets.token_urlsafe(24)}"


def _read_event(headers: dict[str, str], event: dict[str, Any]) -> ReceivedDelivery:
    """Record what an escalation event names: ``ticket_id`` or ``lead_id``, rule, recipients."""
    data = event["data"]
    kind = next((k for k in ("ticket", "lead") if isinstance(data.get(f"{k}_id"), int)), None)
    notify = data.get("notify") if isinstance(data.get("notify"), list) else []
    return ReceivedDelivery(
        received_at=datetime.now(UTC), delivery_id=headers.get("x-geodispatch-delivery"),
        event_type=str(event.get("type") or headers.get("x-geodispatch-event")),
        subject_kind=kind, subject_id=None if kind is None else data[f"{kind}_id"],
        rule_id=None if data.get("rule_id") is None else str(data["rule_id"]),
        notify=tuple(_recipient(n) for n in notify if isinstance(n, dict)),
        is_signature_valid=True,
    )  # fmt: skip


def _rejected(headers: dict[str, str], refused: DeliveryRefused) -> ReceivedDelivery:
    return ReceivedDelivery(
        received_at=datetime.now(UTC), delivery_id=headers.get("x-geodispatch-delivery"),
        event_type=headers.get("x-geodispatch-event"), subject_kind=None, subject_id=None,
        rule_id=None, notify=(), is_signature_valid=refused.is_signature_valid,
        rejection=str(refused),
    )  # fmt: skip


def _recipient(notify: dict[str, Any]) -> str:
    """``sup-pudong (region 310115)``, ``sup-duty-desk`` or ``role dispatcher``."""
    if "role" in notify:
        return f"role {notify['role']}"
    region = f" (region {notify['of_region']})" if notify.get("of_region") else ""
    return f"{notify.get('supervisor')}{region}"


def _handler_for(receiver: DemoReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # seconds a client may stall mid-request before its thread gives up

        def do_POST(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, delivery = 204, receiver.judge(headers, self._body())
            except DeliveryRefused as refused:
                status, delivery = refused.status, _rejected(headers, refused)
            receiver.record(delivery)
            self._answer(status, f"refused: {delivery.rejection}" if delivery.rejection else "")

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                raise DeliveryRefused(411, "no Content-Length")
            if int(length) > MAX_BODY_BYTES:
                raise DeliveryRefused(413, f"a body of {length} bytes; at most {MAX_BODY_BYTES}")
            return self.rfile.read(int(length))

        def _answer(self, status: int, text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("demo receiver: " + format, *args)

    return Handler
