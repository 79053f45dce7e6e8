"""What an operator watches: each service's Prometheus metrics at `GET /metrics`.

One registry per running service (tests run several in one process). Counters and
histograms are kept as things happen (HTTP requests, event-store commits, consumer batches,
dead letters); the relay's and consumer's positions and the domain's gauges are read when
Prometheus scrapes, from the state the service keeps anyway, so they cost nothing between
scrapes. Names and units follow Prometheus' conventions (`_total`, `_seconds`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from shared.kafka import Consumer, Relay

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # `_created` series double every counter and say nothing we watch

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """A service's instruments and the registry `/metrics` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "onestop_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "onestop_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_duration = Histogram(
            "onestop_eventstore_commit_duration_seconds",
            "Time to store one save's events (with their tracking record) in PostgreSQL.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.consumer_batch = Histogram(
            "onestop_consumer_batch_records",
            "Records of one partition applied in one consumer transaction.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "onestop_gc_pause_seconds",
            "Time the garbage collector held the whole process (every thread waits), by the "
            "oldest generation it collected (2: a full collection).",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=r,
        )
        self.gc_freed = Counter(
            "onestop_gc_freed_objects",
            "Objects the garbage collector found unreachable (cycles: what reference counting "
            "alone never frees), by the oldest generation it collected.",
            ["generation"],
            registry=r,
        )
        self.dead_letters = Counter(
            "onestop_consumer_dead_letters",
            "Records put on the dead-letter topic, by why.",
            ["reason"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def watch(self, collector: Collector) -> None:
        """Read `collector` at every scrape."""
        self.registry.register(collector)

    def timed_commit(self) -> Callable[[float], None]:
        return self.commit_duration.observe

    def time_collections(self) -> Callable[[str, dict[str, Any]], None]:
        """Time every garbage collection of this process into `gc_pause` (the callback,
        for `gc.callbacks`: a collection runs with the GIL held, so one at a time)."""
        pauses = [self.gc_pause.labels(str(g)) for g in range(3)]
        freed = [self.gc_freed.labels(str(g)) for g in range(3)]
        started = 0.0

        def timed(phase: str, info: dict[str, Any]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                pauses[info["generation"]].observe(time.perf_counter() - started)
                freed[info["generation"]].inc(info["collected"])

        return timed


T = TypeVar("T")


class Recent(Generic[T]):
    """A figure that costs a count over a whole read model (the domain gauges), read at most
    every `every` seconds and the last reading served in between: Prometheus scrapes every
    few seconds, and at a million cases each reading is a scan that took PostgreSQL 50 ms per
    50,000 cases. Deadlines run in days, so a gauge a few seconds old alerts as well. A
    failed reading raises (the scrape says so) and is tried again at the next scrape.

    A reading that takes long is also made less often: at least `SHARE` times its own
    duration passes before the next, so the gauges never take more than 1 % of the time
    however large the store (with 300,000 open cases routing's inbox count took 1.5 s:
    every 30 s, that was 5 % of a core, and a stall of the work around it each time)."""

    SHARE = 100

    def __init__(
        self, read: Callable[[], T], every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read, self._every, self._clock = read, every, clock
        self._lock = threading.Lock()
        self._last: tuple[float, T] | None = None
        self._wait = every

    def __call__(self) -> T:
        with self._lock:  # two scrapes at once read once
            now = self._clock()
            if self._last is None or now - self._last[0] >= self._wait:
                value = self._read()
                self._wait = max(self._every, (self._clock() - now) * self.SHARE)
                self._last = (now, value)
            return self._last[1]


def dead_letter_kind(reason: str) -> str:
    """A reason's kind, for a label with few values: the text before its first colon, in
    words (`malformed event`, `… does not fit its contract`, `unknown event type`…)."""
    head = reason.split(":", 1)[0].lower()
    if "does not fit its contract" in reason:
        return "contract"
    if head.startswith("malformed"):
        return "malformed"
    if "unknown event type" in reason:
        return "unknown-type"
    if "conflicting" in reason:
        return "conflict"
    return re.sub(r"[^a-z]+", "-", head).strip("-")[:40] or "other"


class RuntimeCollector(Collector):
    """The relay's and the consumer's state, read at each scrape."""

    def __init__(
        self,
        service: str,
        relay: Relay | None,
        consumer: Consumer | None,
        unready: Callable[[], list[str]],
    ) -> None:
        self.service = service
        self.relay = relay
        self.consumer = consumer
        self.unready = unready

    def collect(self) -> Iterable[Metric]:
        ready = GaugeMetricFamily(
            "onestop_ready",
            "1 if the service can serve correctly; 0 with the reason if not.",
            labels=["reason"],
        )
        reasons = self.unready()
        ready.add_metric([reasons[0] if reasons else "ok"], 0.0 if reasons else 1.0)
        yield ready
        yield from self._relay()
        yield from self._consumer()

    def _relay(self) -> Iterator[Metric]:
        relay = self.relay
        if relay is None:
            return
        status = relay.status
        leader = GaugeMetricFamily(
            "onestop_relay_leader", "1 if this process holds the relay's lock.", labels=["topic"]
        )
        leader.add_metric([relay.topic], 1.0 if status.leader else 0.0)
        yield leader
        published = CounterMetricFamily(
            "onestop_relay_published", "Events put on the topic.", labels=["topic"]
        )
        published.add_metric([relay.topic], status.published)
        yield published
        parked = CounterMetricFamily(
            "onestop_relay_parked",
            "Stored events the wire mapping failed on, put on the dead-letter topic.",
            labels=["topic"],
        )
        parked.add_metric([relay.topic], status.parked)
        yield parked
        if status.leader and status.position is not None:
            position = GaugeMetricFamily(
                "onestop_relay_position",
                "The last notification id put on the topic.",
                labels=["topic"],
            )
            position.add_metric([relay.topic], status.position)
            yield position
            try:
                head = relay.app.recorder.max_notification_id() or 0
            except Exception:  # the database is down: the other metrics still say so
                head = None
            if head is not None:
                lag = GaugeMetricFamily(
                    "onestop_relay_lag_events",
                    "Stored events not yet on the topic (the log's head minus the position).",
                    labels=["topic"],
                )
                lag.add_metric([relay.topic], max(0, head - status.position))
                yield lag
        if status.last_published_at is not None:
            age = GaugeMetricFamily(
                "onestop_relay_last_published_timestamp_seconds",
                "When the relay last put events on the topic.",
                labels=["topic"],
            )
            age.add_metric([relay.topic], status.last_published_at)
            yield age

    def _consumer(self) -> Iterator[Metric]:
        consumer = self.consumer
        if consumer is None:
            return
        status = consumer.status
        records = CounterMetricFamily(
            "onestop_consumer_records",
            "Records consumed, by what became of them.",
            labels=["outcome"],
        )
        records.add_metric(["applied"], status.processed)
        records.add_metric(["duplicate"], status.duplicates)
        records.add_metric(["dead-lettered"], status.dead_lettered)
        yield records
        batches = CounterMetricFamily(
            "onestop_consumer_batches", "Consumer transactions committed.", labels=[]
        )
        batches.add_metric([], status.batches)
        yield batches
        assigned = GaugeMetricFamily(
            "onestop_consumer_assigned_partitions", "Partitions assigned to this consumer."
        )
        assigned.add_metric([], len(status.assigned))
        yield assigned
        lag = GaugeMetricFamily(
            "onestop_consumer_lag_records",
            "Records on a partition not yet consumed (high watermark minus position).",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(status.lag.items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag


class HttpMetrics:
    """ASGI middleware: every answer counted and timed by its route's template (so one label
    value per endpoint, not per case id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope.get("method", "GET")
            self.metrics.http_requests.labels(method, template, str(status[0])).inc()
            self.metrics.http_duration.labels(method, template).observe(
                time.perf_counter() - started
            )
