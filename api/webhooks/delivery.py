"""Webhook delivery: signing, backoff, and the worker that POSTs deliveries off the API's path.

The API only writes rows (ticket status changes); this worker, a thread of the API process
(``webhook_worker_enabled``) or its own process (``geodispatch webhooks deliver``), turns new
changes into deliveries, POSTs them, and logs every attempt.  A slow or failing endpoint
therefore never slows a request down.

Verifying a delivery (receiver side)::

    X-Geodispatch-Signature: t=1763800000,v1=5257a869e7...

    expected = hmac.new(secret, f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - t) <= 300

Use the raw body bytes as received (not re-serialised JSON), compare in constant time, and
refuse old timestamps to stop replays.  ``X-Geodispatch-Delivery`` is unique per delivery and
stays the same across its retries: use it to drop duplicates.

Where a delivery may go (server-side request forgery): before each attempt the worker resolves
the URL's host and refuses the attempt, without connecting, if any address is not public
(``api.webhooks.rules.refusal``: loopback, private, link-local, unique-local, multicast,
unspecified, cloud metadata). It then connects to the address it judged, with the name in the
``Host`` header and TLS's SNI (and certificate check), so a name that resolves differently a
moment later (DNS rebinding) cannot steer the connection elsewhere. Redirects are not followed:
a 3xx is a failed attempt. ``webhook_allow_private_urls`` lifts the address check (tests,
all-intranet deployments); it stays off by default.
"""

import hashlib
import hmac
import ipaddress
import logging
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import ClassVar

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.auth import utc_now
from api.background import BackgroundLoop, running
from api.clock import Clock
from api.config import Settings
from api.webhooks import repository as repo
from api.webhooks.rules import IPAddress, refusal

SIGNATURE_HEADER = "X-Geodispatch-Signature"
log = logging.getLogger(__name__)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp`` (Unix seconds).

    >>> sign("whsec_test", 1763800000, b'{"id":"evt_1"}')[:13]
    't=1763800000,'
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now_s: float, tolerance_s: float = 300
) -> bool:
    """Check a signature header as a receiver should: right secret, right body, recent enough.

    >>> header = sign("s3cret", 1000, b"{}")
    >>> verify("s3cret", header, b"{}", now_s=1010), verify("other", header, b"{}", now_s=1010)
    (True, False)
    """
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return hmac.compare_digest(expected, parts["v1"]) and abs(now_s - timestamp) <= tolerance_s


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try, and where.

    Attempts, exponential backoff with jitter and a per-attempt timeout; whether addresses
    that are not public may be reached (``allow_private_addresses``: tests and intranets).
    """

    max_attempts: int = 8
    backoff_base_s: float = 10.0
    backoff_max_s: float = 3600.0
    timeout_s: float = 10.0
    batch: int = 50
    concurrency: int = 8
    allow_private_addresses: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.batch < 1 or self.concurrency < 1:
            raise ValueError("max_attempts, batch and concurrency must be at least 1")
        if not 0 < self.backoff_base_s <= self.backoff_max_s or self.timeout_s <= 0:
            raise ValueError("need 0 < backoff_base_s <= backoff_max_s and timeout_s > 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeliveryPolicy":
        """Read the policy from the service settings."""
        return cls(
            max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s,
            backoff_max_s=min(settings.webhook_backoff_max_s, 86_400.0),
            timeout_s=settings.webhook_timeout_s,
            allow_private_addresses=settings.webhook_allow_private_urls,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed batch is kept from other workers: its worst case, plus a margin."""
        rounds = -(-self.batch // self.concurrency)
        return timedelta(seconds=self.timeout_s * rounds + 30)

    def retry_delay_s(self, attempt_no: int, rng: random.Random) -> float:
        """Return the wait after failed attempt ``attempt_no`` (1-based): "equal jitter".

        The ceiling doubles per attempt up to ``backoff_max_s``; the delay is drawn from its
        upper half, so it keeps growing while retries from many deliveries spread out.
        """
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** min(attempt_no - 1, 60))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


Resolver = Callable[[str, int], Sequence[IPAddress]]
"""Resolves ``(host, port)`` to addresses; raises ``OSError`` when the name does not resolve."""


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Return the addresses the system's resolver gives ``host``, in its order."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv6 link-local address comes with its zone ("fe80::1%eth0"); the address decides.
    addresses = (ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found)
    return list(dict.fromkeys(addresses))


class Undeliverable(Exception):
    """No attempt can be made: the host does not resolve, or reaches a refused address.

    The message is the attempt's recorded error.
    """


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one attempt connects, and as which name.

    ``url`` has its host replaced by the checked address; the name goes in the ``Host`` header
    and, over HTTPS, in the TLS server name (SNI), which the certificate is checked against.
    """

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


def destination(url: str, *, resolve: Resolver, allow_private: bool) -> Destination:
    """Resolve ``url``'s host once, judge every address, and pin the first.

    Raises ``Undeliverable`` when the name does not resolve or an address is refused (unless
    ``allow_private``).
    """
    parsed = httpx.URL(url)
    name = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS and SNI take it
    try:
        addresses: Sequence[IPAddress] = [ipaddress.ip_address(parsed.host)]
    except ValueError:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = resolve(name, port)
        except OSError as err:
            raise Undeliverable(f"DNS: {name} does not resolve: {err}") from err
    if not addresses:
        raise Undeliverable(f"DNS: {name} resolves to no address")
    if not allow_private:
        # Every address, not only the one used: a mixed answer is a rebinding attempt.
        reasons = [reason for address in addresses if (reason := refusal(address)) is not None]
        if reasons:
            raise Undeliverable(f"refused, not a public address: {parsed.host}: {reasons[0]}")
    extensions = {"sni_hostname": name} if parsed.scheme == "https" else {}
    return Destination(
        url=parsed.copy_with(host=str(addresses[0])),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions=extensions,
    )


def post(
    client: httpx.Client,
    due: repo.DueDelivery,
    *,
    now: datetime,
    resolve: Resolver = resolve_host,
    allow_private: bool = False,
) -> repo.AttemptResult:
    """POST one signed delivery to its checked address and report status, latency and error.

    Never raises: a refused address, a name that does not resolve, a redirect and a transport
    error are each a failed attempt with the reason in ``error``.
    """
    body = due.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "geodispatch-webhooks/1",
        SIGNATURE_HEADER: sign(due.secret, int(now.timestamp()), body),
        "X-Geodispatch-Event": due.event_type,
        "X-Geodispatch-Delivery": str(due.id),
    }
    started = time.perf_counter()
    status, error = None, None
    try:
        target = destination(due.url, resolve=resolve, allow_private=allow_private)
        response = client.post(
            target.url,
            content=body,
            headers=headers | target.headers,
            extensions=target.extensions,
        )
        status = response.status_code
        if response.is_redirect:
            location = response.headers.get("location", "")[:200]
            error = f"HTTP {status}: redirects are not followed (Location: {location})"
        elif not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except Undeliverable as err:
        error = str(err)[:500]
    except httpx.HTTPError as err:
        error = f"{type(err).__name__}: {err}"[:500]
    except httpx.InvalidURL as err:  # stored URLs were validated; this is belt and braces
        error = f"InvalidURL: {err}"[:500]
    latency_ms = round((time.perf_counter() - started) * 1000)
    return repo.AttemptResult(now, latency_ms, status, error)


@dataclass
class WebhookWorker(BackgroundLoop):
    """Reads the outbox, makes deliveries, POSTs the due ones and logs each attempt.

    ``clock`` dates every attempt and decides what is due; tests pass a
    :class:`~api.clock.ManualClock`. Only the idle poll between passes waits in real time.
    ``resolve`` turns a URL's host into the addresses judged and connected to; tests pass a
    stub, so no test depends on real DNS.
    """

    sessions: Callable[[], Session]
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    poll_s: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    clock: Clock = utc_now
    resolve: Resolver = resolve_host
    thread_name: ClassVar[str] = "webhooks"

    def run_once(self) -> int:
        """Enqueue new changes and attempt every due delivery once; return attempts made."""
        with self.sessions() as session:
            repo.enqueue_changes(session, now=self.clock())
            session.commit()
            due = repo.claim_due(
                session, now=self.clock(), limit=self.policy.batch, lease=self.policy.lease
            )
            session.commit()
        if not due:
            return 0
        # Subscriptions are served in parallel, so one slow endpoint holds up no other; each
        # one's deliveries go in order, one at a time. Results are recorded here, serially.
        by_subscription: dict[int, list[repo.DueDelivery]] = {}
        for delivery in due:
            by_subscription.setdefault(delivery.subscription_id, []).append(delivery)
        tls = httpx.create_ssl_context()  # loading the CA bundle once per pass, not per client
        with ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="webhook") as pool:
            sends = [pool.submit(self._post_in_order, ds, tls) for ds in by_subscription.values()]
            for done in as_completed(sends):
                for delivery, result in done.result():
                    self._record(delivery, result)
        return len(due)

    def _post_in_order(
        self, deliveries: list[repo.DueDelivery], tls: ssl.SSLContext
    ) -> list[tuple[repo.DueDelivery, repo.AttemptResult]]:
        # A client per subscription: connections are opened to checked addresses, and two
        # hosts behind one address must not share a connection (its TLS names one of them).
        allow_private = self.policy.allow_private_addresses
        send = partial(post, resolve=self.resolve, allow_private=allow_private)
        timeout_s = self.policy.timeout_s
        with httpx.Client(timeout=timeout_s, follow_redirects=False, verify=tls) as client:
            return [(delivery, send(client, delivery, now=self.clock())) for delivery in deliveries]

    def _record(self, due: repo.DueDelivery, result: repo.AttemptResult) -> None:
        retry_at = None
        if not result.is_success and due.attempt_no < self.policy.max_attempts:
            delay = self.policy.retry_delay_s(due.attempt_no, self.rng)
            retry_at = self.clock() + timedelta(seconds=delay)
        with self.sessions() as session:
            repo.record_attempt(
                session, delivery_id=due.id, attempt_no=due.attempt_no, result=result,
                retry_at=retry_at, now=self.clock(),
            )  # fmt: skip
            session.commit()

    def run_forever(self) -> None:
        """Work until :meth:`stop`; poll every ``poll_s`` when there is nothing to do."""
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # a database hiccup must not kill the worker; it retries
                log.exception("webhook worker pass failed")
                busy = False
            if not busy:
                self._stop.wait(self.poll_s)


@asynccontextmanager
async def webhook_worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run a delivery worker thread for the app's lifetime when ``webhook_worker_enabled``."""
    settings: Settings = app.state.settings
    if not settings.webhook_worker_enabled:
        yield
        return
    engine = app.state.engine
    worker = WebhookWorker(
        sessions=lambda: Session(engine),
        policy=DeliveryPolicy.from_settings(settings),
        poll_s=settings.webhook_poll_s,
    )
    async with running(worker):
        yield
