"""The service's Prometheus metrics: HTTP requests, the database pool, the work queues.

Requests are counted and timed per method, route template and status, never per raw path, so
the number of series stays bounded. With several server processes (``geodispatch serve
--workers N``) the values live in files under ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode) and a scrape of any process reads them all. The run queue and the webhook
backlog are read from the database at scrape time, so any process answers the same.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from api.observability.backlog import Backlog

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The route label of a request no route matched (a 404), whatever its path.
UNMATCHED_ROUTE = "unmatched"
_REQUEST_LABELS = ("method", "route", "status")


def is_multiprocess() -> bool:
    """Whether this process shares its metrics with the other server processes."""
    return bool(os.environ.get(MULTIPROCESS_DIR_ENV))


class ServiceMetrics:
    """The metrics one app updates: request counts and durations, its database pool.

    The pool gauges are summed over the live server processes (``livesum``); each process
    refreshes them after every request it serves and when it answers a scrape.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "geodispatch_http_requests",
            "HTTP requests answered",
            _REQUEST_LABELS,
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "geodispatch_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            _REQUEST_LABELS,
            registry=self.registry,
        )
        self.pool_size = self._pool_gauge("size", "Connections the pool keeps open")
        self.pool_checked_out = self._pool_gauge("checked_out", "Connections in use")
        self.pool_overflow = self._pool_gauge("overflow", "Connections open beyond the size")

    def _pool_gauge(self, name: str, description: str) -> Gauge:
        return Gauge(
            f"geodispatch_db_pool_{name}",
            description,
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """Count one answered request and its duration."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_duration.labels(*labels).observe(duration_s)

    def read_pool(self, engine: Engine) -> None:
        """Set the pool gauges from ``engine``'s pool (a pool without a size has none)."""
        pool = engine.pool
        if isinstance(pool, QueuePool):
            self.pool_size.set(pool.size())
            self.pool_checked_out.set(pool.checkedout())
            self.pool_overflow.set(max(pool.overflow(), 0))  # negative until the pool fills

    def exposition(self, backlog: Backlog) -> bytes:
        """Return the Prometheus text of every metric, with ``backlog`` read for this scrape."""
        registry = CollectorRegistry(auto_describe=False)
        if is_multiprocess():
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
        else:
            registry.register(_Registered(self.registry))
        registry.register(_BacklogCollector(backlog))
        return generate_latest(registry)


@dataclass(frozen=True, slots=True, eq=False)  # a registry keys its collectors by identity
class _Registered(Collector):
    """The metrics of a registry, as one collector of another (the scrape's) registry."""

    registry: CollectorRegistry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


@dataclass(frozen=True, slots=True, eq=False)  # a registry keys its collectors by identity
class _BacklogCollector(Collector):
    """The dispatch run queue and the webhook backlog, as read for one scrape."""

    backlog: Backlog

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "geodispatch_dispatch_runs", "Dispatch runs not finished", labels=["status"]
        )
        for status, count in sorted(self.backlog.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "geodispatch_webhook_deliveries_pending",
            "Webhook deliveries not yet delivered nor given up",
            value=self.backlog.pending_deliveries,
        )
        yield GaugeMetricFamily(
            "geodispatch_webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending)",
            value=self.backlog.oldest_pending_age_s,
        )
