"""The frame every service runs in: one process with its HTTP API, its relay and its consumer.

Run more copies to scale: the relay elects one leader through PostgreSQL, and the consumers
share partitions through their Kafka consumer group.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.postgres import PostgresRecorder
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from shared.auth import current_actor
from shared.domain import Actor
from shared.guard import OwnErrors, TextGuard
from shared.http import (
    RETRY_AFTER_SECONDS,
    BodyLimit,
    Correlation,
    NotFound,
    install_problem_handlers,
)
from shared.kafka import Consumer, Relay
from shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.metrics import HttpMetrics, Metrics, RuntimeCollector
from shared.policy import CaseAccess, Sight, permit, public, sight
from shared.settings import ServiceName, Settings
from shared.store import ApplicationRecorder, ProcessRecorder, connect
from shared.tracing import Tracing

log = logging.getLogger(__name__)


class Worker:
    """A named background loop with a stop signal."""

    def __init__(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        self.name = name
        self.stop = threading.Event()
        self.thread = threading.Thread(target=loop, args=(self.stop,), name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.thread.join(timeout)


ReadyCheck = Callable[[], str | None]
"""A service's own reason it cannot serve correctly now, or None if it can."""


@dataclass
class Runtime:
    """What a running service is made of; `bootstrap` modules build one from settings."""

    service: ServiceName
    settings: Settings
    application: Any
    relay: Relay | None = None
    consumer: Consumer | None = None
    on_start: list[Callable[[], object]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    loops: dict[str, Callable[[threading.Event], None]] = field(default_factory=dict)
    """Other background loops by name, e.g. a read-model projection."""
    collectors: list[Collector] = field(default_factory=list)
    """The service's own metrics read at each scrape (e.g. follow-up's deadline gauges)."""
    ready_checks: list[ReadyCheck] = field(default_factory=list)
    """The service's own readiness, asked with the database's and the consumer's at every
    `/health/ready` and scrape (e.g. intake's: its case index projects)."""

    def instrument(self, metrics: Metrics, tracing: Tracing) -> None:
        """Let `/metrics` see this runtime (its relay, consumer, event store and domain), and
        trace what its relay publishes and its consumer handles."""
        if self.relay is not None:
            self.relay.tracing = tracing
        if self.consumer is not None:
            self.consumer.tracing = tracing
        metrics.watch(RuntimeCollector(self.service, self.relay, self.consumer, self.unready))
        for collector in self.collectors:
            metrics.watch(collector)
        if self.consumer is not None:
            self.consumer.metrics = metrics
        recorder = getattr(self.application, "recorder", None)
        if isinstance(recorder, ApplicationRecorder | ProcessRecorder):
            recorder.commit_observer = metrics.timed_commit()

    def workers(self) -> list[Worker]:
        found = [Worker(f"{self.service}-{name}", loop) for name, loop in self.loops.items()]
        if self.relay:
            found.append(Worker(f"{self.service}-relay", self.relay.run))
        if self.consumer:
            found.append(Worker(f"{self.service}-consumer", self.consumer.run))
        return found

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {"service": self.service}
        if self.relay:
            report["relay"] = asdict(self.relay.status)
            report["relay"]["topic"] = self.relay.topic
        if self.consumer:
            report["consumer"] = asdict(self.consumer.status)
            report["consumer"]["topics"] = self.consumer.topics
            report["consumer"]["lag"] = {
                f"{topic}:{partition}": n
                for (topic, partition), n in self.consumer.status.lag.items()
            }
        return report

    def unready(self) -> list[str]:
        """Why the service cannot serve correctly now (nothing: it can): its database does
        not answer, its consumer is not a member of its group (it hears nothing), or one of
        its own `ready_checks` says why. An application kept in memory (tests, a demo) has
        no database to miss."""
        reasons = []
        if isinstance(getattr(self.application, "recorder", None), PostgresRecorder):
            try:
                with connect(self.settings) as conn:
                    conn.execute("SELECT 1")
            except Exception:
                reasons.append("database unreachable")
        if self.consumer is not None and not self.consumer.status.member:
            reasons.append("consumer not in its group")
        for check in self.ready_checks:
            try:
                reason = check()
            except Exception as error:  # a check that breaks says so, and hides no other
                reason = f"readiness check failed: {type(error).__name__}"
            if reason:
                reasons.append(reason)
        return reasons


_bearer = HTTPBearer(auto_error=False)


async def gate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Every route of every service passes here first: the visibility policy says whether
    the caller's role may call this operation at all (`shared.policy.permit`); a route then
    asks the policy what of a case the caller may see."""
    route = request.scope.get("route")
    operation = getattr(route, "name", "")
    runtime: Runtime = request.app.state.runtime
    if public(runtime.service, operation):
        return
    actor = await current_actor(request, credentials)
    permit(actor, runtime.service, operation)
    case_id = request.path_params.get("case_id")
    if case_id is not None and isinstance(runtime.application, KnowsCases):
        await run_in_threadpool(_see_case, runtime.application, str(case_id), actor)


@runtime_checkable
class KnowsCases(Protocol):
    """An application that can tell the visibility policy a case's facts."""

    def case_access(self, case_id: UUID) -> CaseAccess:
        """The case's facts; raises `case_not_found(case_id)` for a case it does not know."""
        ...

    def case_not_found(self, case_id: UUID) -> NotFound:
        """What the service answers about a case it does not know."""
        ...


def _see_case(app: KnowsCases, case_id: str, actor: Actor) -> None:
    """Every route about one case, in every service, first asks whether the caller may see
    that case at all: a case hidden from them (an accusation against their unit, another
    system's case) is not found, in the very words of a case that does not exist."""
    try:
        known = UUID(case_id)
    except ValueError:
        return  # the route's own validation names the parameter
    if sight(actor, app.case_access(known)) is Sight.HIDDEN:
        raise app.case_not_found(known)


SETTLE_HEAP = False
"""Set by `onestop serve` (a process that serves one service for its life, not a test that
starts many): once ready, the heap built at start is frozen out of the garbage collector's
full collections, and the young generation is larger (see `settle_heap`); what it frees is
given back to the system (`trim_heap`)."""


def settle_heap() -> None:
    """A full collection scans every object the process holds, and under load a service
    made one every few seconds, each a pause of 90–350 ms that freed next to nothing (the
    modules, the territory, the caches built at start): a registration or an assignment in
    flight waited it out. What exists once the service is ready is set aside for good
    (`gc.freeze`), and 10,000 allocations, not 700, make a young collection, so fewer
    short-lived objects live long enough to be scanned again. At 100 cases/s for ~90 s,
    intake made 13 full collections (up to 188 ms) and follow-up 11 (up to 347 ms); with
    this, one each (~60 ms, at start) in 2.5 minutes of the same load.

    Allocations no longer start a full collection at all (`FULL_AFTER`): the heap worker
    makes one every `TRIM_SECONDS` (`trim_heap`). Triggered by allocations, one comes in the
    middle of whatever allocates most — a request reading a 200-event history allocates
    ~50,000 objects, and at back-to-back reads follow-up collected in full every 1–2 s, each
    scanning the ~100,000 objects of the reads in flight: 55–67 ms, the slowest ~1 % of the
    reads. Nearly everything a request leaves is freed by its reference count; what only a
    full collection frees (cycles) waits at most `TRIM_SECONDS` for it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, FULL_AFTER)


FULL_AFTER = 1_000_000_000
"""Young collections (of the middle generation) before an automatic full one: never, in
practice; the heap worker makes them (`settle_heap`)."""


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library is another."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


TRIM_SECONDS = 10.0
FULL_SECONDS = 300.0
"""How often the heap worker collects in full. Every `TRIM_SECONDS`, as it did, each full
collection held a served process 50–110 ms on average (`onestop_gc_pause_seconds`, under
`make bench`'s load) and found a few hundred objects in cycles: the pauses were the slowest
requests. Every five minutes the cycles wait a little longer; the trims stay as often."""


def trim_heap(
    stop: threading.Event,
    trim: Callable[[int], int] | None = None,
    collect: Callable[[], object] = gc.collect,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Give the memory the process freed back to the system every `TRIM_SECONDS`, and
    collect garbage in full first every `FULL_SECONDS` (or 100 times as long as both took,
    if that is longer: ≤ 1 % of the time).

    The C allocator keeps what is freed for reuse; the objects a service lets go of between
    loads (a batch of cases, a page of the log, a query's rows) leave it with free pages it
    never hands back, scattered between the ones still in use. Follow-up sat at 174–217 MB
    after three pipeline runs of 3,000 cases, by restart; trimming every 10 s, 141–148 MB
    (72 MB of it Python's objects, by tracemalloc). `malloc_trim` runs without the GIL;
    the collection (the only full one a served process makes, see `settle_heap`) holds it."""
    trim = trim or _malloc_trim()
    wait, collected_at = TRIM_SECONDS, clock()
    while not stop.wait(wait):
        started = time.perf_counter()
        if clock() - collected_at >= FULL_SECONDS:
            collect()
            collected_at = clock()
        if trim is not None:
            trim(0)
        wait = max(TRIM_SECONDS, 100 * (time.perf_counter() - started))


def create_api(
    runtime_factory: Callable[[], Runtime],
    settings: Settings,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
) -> FastAPI:
    """An API whose lifespan builds the runtime, starts its workers and stops them cleanly."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = runtime_factory()
        tracing = Tracing(runtime.service, settings.otlp_endpoint)
        runtime.instrument(metrics, tracing)
        app.state.runtime = runtime
        app.state.tracing = tracing
        workers = runtime.workers()
        timed = metrics.time_collections()
        if SETTLE_HEAP:
            workers.append(Worker(f"{runtime.service}-heap", trim_heap))
            gc.callbacks.append(timed)
        for hook in runtime.on_start:
            hook()
        for worker in workers:
            worker.start()
        if SETTLE_HEAP:
            settle_heap()
        log.info("%s ready", runtime.service)
        try:
            yield
        finally:
            for worker in workers:
                worker.close()
            for hook in runtime.on_stop:
                hook()
            runtime.application.close()
            tracing.shutdown()
            if timed in gc.callbacks:
                gc.callbacks.remove(timed)

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # an operation's id is its route's name: the name the visibility policy knows it by
        generate_unique_id_function=lambda route: route.name,
        dependencies=[Depends(gate)],
        # no OpenTelemetry here: without this FastAPI asks the global providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(app)
    refusals = {r.prefix: r.refuse for r in routers if isinstance(r, OwnErrors)}
    app.add_middleware(TextGuard, refusals=refusals)
    app.add_middleware(Correlation)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.attachment_max_bytes + 64 * 1024,  # the form around the file
    )
    app.add_middleware(HttpMetrics, metrics=metrics)
    for router in routers:
        app.include_router(router)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics: requests, relay, consumer, event store, the domain",
        response_class=Response,
    )
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/health/live", tags=["operations"], summary="The process answers")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["operations"],
        summary="Whether the service can serve correctly: database, consumer, relay state",
    )
    def ready() -> JSONResponse:
        runtime: Runtime = app.state.runtime
        report = runtime.status()
        reasons = runtime.unready()
        report["database"] = "unreachable" if "database unreachable" in reasons else "ok"
        report["status"] = "not ready: " + "; ".join(reasons) if reasons else "ready"
        answer = JSONResponse(report, status_code=503 if reasons else 200)
        if reasons:
            answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer

    return app
