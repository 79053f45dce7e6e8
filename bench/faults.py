"""`make faults`: what a crash or an outage does to OneStop under a steady load, measured.

Run by deploy/scripts/faults.sh against a stack of its own (its own run directory,
PostgreSQL, Kafka broker and service ports), never against the one `make up` runs: every
pid it kills is read from this run directory's pid files and checked to be that stack's.

Under an open-loop load of `--rate` registrations/s (each with its own `Idempotency-Key`,
sent again with the same key after a 503, any other 5xx or a broken connection until it is
answered, so each logical registration must end as exactly one case), in turn:

1. kill -9 of intake, then routing, then follow-up, each restarted at once
   (`services.sh start`);
2. kill -9 of the Kafka broker, started again 60 s later (`kafka.sh start`);
3. PostgreSQL stopped (`postgres.sh stop`, a fast shutdown) for 30 s, then started.

Every service's `/health/ready` is polled four times a second throughout: when it went
unready, when it was ready again, when its consumer handled records again (its `processed`
count moved) and when its lag was 0. At the end, every case's history is read from
follow-up as an auditor: nothing lost, nothing twice. The figures go to docs/faults.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson

from bench.common import ROOT, base_url, kafka_options, say
from bench.faults_report import GAP, WINDOW, render, verdicts
from bench.host import machine_facts
from bench.load import registration_bodies
from bench.wire import HTTPFailure, KeepAlive
from shared.settings import SERVICES, ServiceName, Settings, run_dir

DOC = ROOT / "docs" / "faults.md"
CATCH_UP_TIMEOUT = 60.0
"""The longest wait, after an experiment's windows, for the pipeline to catch up."""
SCRIPTS = ROOT / "deploy" / "scripts"
REGISTERED = "onestop.intake.case.registered."  # any version
ASSIGNED = "onestop.routing.case.assigned."
POLL = 0.25


@dataclass(frozen=True)
class Options:
    rate: float = 20.0
    connections: int = 32
    baseline: float = 30.0
    kafka_down: float = 60.0
    postgres_down: float = 30.0
    retry: float = 1.0
    """A client's pause before sending a registration again (Retry-After says 5 s; a shorter
    pause sends more requests into the outage, which is what is being tested)."""
    write_docs: bool = False


# --------------------------------------------------------------------------- the load


@dataclass
class Answer:
    sent: float  # wall clock
    seconds: float
    status: int | str  # HTTP status, or what broke ("refused", "broken", "timeout")


@dataclass
class Registration:
    """One logical registration: a citizen's submission, however often it is sent."""

    key: str
    body: bytes
    due: float  # wall clock: when the open-loop schedule sent it first
    answers: list[Answer] = field(default_factory=list)
    case_id: str | None = None
    outcome: str | None = None  # "registered", or "existing" for an answer to a retry
    refused: str | None = None  # a 4xx: not sent again


def failure_kind(error: HTTPFailure) -> str:
    text = str(error)
    if text.startswith("ConnectionRefusedError"):
        return "refused"
    if text.startswith(("no answer", "TimeoutError")):  # TimeoutError is an OSError
        return "timeout"
    return "broken"


class Load:
    """Registrations due at `rate`/s whatever happened to earlier ones, on a pool of
    keep-alive connections; each is sent until it is answered 200 or 201."""

    def __init__(self, url: str, token: str, opts: Options, limit: int) -> None:
        self.rate, self.retry = opts.rate, opts.retry
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.idle: asyncio.Queue[KeepAlive] = asyncio.Queue()
        for _ in range(opts.connections):
            # long enough to hear what the service answers, however late
            self.idle.put_nowait(KeepAlive(url, headers, timeout=60.0))
        self.bodies = registration_bodies(limit, seed=16)
        self.registrations: list[Registration] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        start = time.time() + 0.05
        for i, body in enumerate(self.bodies):
            due = start + i / self.rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stop.is_set():
                return
            registration = Registration(uuid4().hex, body, due)
            self.registrations.append(registration)
            task = asyncio.create_task(self._register(registration))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        say("the load ran out of prepared registrations")

    async def _register(self, r: Registration) -> None:
        while True:
            client = await self.idle.get()
            sent = time.time()
            status: int | str
            try:
                status, body = await client.post("/v1/cases", r.body, {"Idempotency-Key": r.key})
            except HTTPFailure as error:
                status, body = failure_kind(error), b""
            finally:
                self.idle.put_nowait(client)
            r.answers.append(Answer(sent, time.time() - sent, status))
            if status in (200, 201):
                answer = orjson.loads(body)
                r.case_id, r.outcome = str(answer["case_id"]), str(answer["outcome"])
                return
            if isinstance(status, int) and status < 500:
                r.refused = f"{status}: {body[:300].decode(errors='replace')}"
                return
            await asyncio.sleep(self.retry)

    async def finish(self, timeout: float) -> None:
        """Stop sending new registrations; wait for those still being retried."""
        self.stop.set()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    def answers(self, since: float = 0.0, until: float = math.inf) -> list[Answer]:
        return [a for r in self.registrations for a in r.answers if since <= a.sent < until]


# --------------------------------------------------------------------------- readiness


@dataclass
class Sample:
    at: float  # wall clock: when the answer came
    status: int | str  # 200, 503 or "down"
    member: bool | None = None
    processed: int | None = None
    lag: int | None = None
    relayed: int | None = None  # the relay's position in the service's notification log


class Health:
    """Polls each service's /health/ready and keeps every answer."""

    def __init__(self, settings: Settings) -> None:
        self.urls = {s: base_url(settings, s) for s in SERVICES}
        self.samples: dict[ServiceName, list[Sample]] = {s: [] for s in SERVICES}
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(*(self._poll(s) for s in SERVICES))

    async def _poll(self, service: ServiceName) -> None:
        client = KeepAlive(self.urls[service], {}, timeout=3.0)
        try:
            while not self.stop.is_set():
                try:
                    status, body = await client.get("/health/ready")
                except HTTPFailure:
                    self.samples[service].append(Sample(time.time(), "down"))
                else:
                    report = orjson.loads(body)
                    consumer = report.get("consumer") or {}
                    lag = consumer.get("lag")
                    relay = report.get("relay") or {}
                    self.samples[service].append(
                        Sample(
                            time.time(),
                            status,
                            consumer.get("member"),
                            consumer.get("processed"),
                            sum(lag.values()) if isinstance(lag, dict) else None,
                            relay.get("position"),
                        )
                    )
                await asyncio.sleep(POLL)
        finally:
            await client.close()

    def processed_before(self, service: ServiceName, moment: float) -> int:
        counts = [s.processed for s in self.samples[service] if s.at < moment and s.processed]
        return counts[-1] if counts else 0

    def relayed_before(self, service: ServiceName, moment: float) -> int:
        found = [s.relayed for s in self.samples[service] if s.at < moment and s.relayed]
        return found[-1] if found else 0

    def relay_resumed_at(self, service: ServiceName, since: float, base: int) -> float | None:
        """When the relay had published past where it was before the fault."""
        return next(
            (
                s.at
                for s in self.samples[service]
                if s.at >= since and s.relayed is not None and s.relayed > base
            ),
            None,
        )

    def unready_at(self, service: ServiceName, since: float) -> float | None:
        return next(
            (s.at for s in self.samples[service] if s.at >= since and s.status != 200), None
        )

    def ready_at(self, service: ServiceName, fault: float, restored: float) -> float | None:
        """The first ready answer after the service went unready for the fault (or, if it
        never answered otherwise, the first once the fault was repaired)."""
        down = self.unready_at(service, fault)
        since = down if down is not None and down < restored else restored
        return next(
            (s.at for s in self.samples[service] if s.at >= since and s.status == 200), None
        )

    def resumed_at(self, service: ServiceName, since: float, base: int) -> float | None:
        """When the consumer had handled more records than `base` (its count before the
        fault; 0 for a new process)."""
        return next(
            (
                s.at
                for s in self.samples[service]
                if s.at >= since and s.processed is not None and s.processed > base
            ),
            None,
        )

    def caught_up_at(self, service: ServiceName, since: float) -> float | None:
        return next(
            (
                s.at
                for s in self.samples[service]
                if s.at >= since and s.status == 200 and s.lag == 0
            ),
            None,
        )


class Machine:
    """How busy the whole machine was (every process, stolen time included), each second:
    the stack shares its cores with whatever else runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.stop = asyncio.Event()

    @staticmethod
    def _times() -> tuple[int, int]:
        """Idle and total CPU ticks since boot."""
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return ticks[3] + ticks[4], sum(ticks)

    async def run(self) -> None:
        idle, total = self._times()
        while not self.stop.is_set():
            await asyncio.sleep(1.0)
            idle_now, total_now = self._times()
            if total_now > total:
                self.samples.append((time.time(), 1 - (idle_now - idle) / (total_now - total)))
            idle, total = idle_now, total_now

    def busy(self, start: float, end: float) -> float:
        inside = [b for t, b in self.samples if start <= t < end]
        return sum(inside) / len(inside) if inside else math.nan


# --------------------------------------------------------------------------- the faults


class Stack:
    """This stack's own processes, found by the pid files of its run directory only."""

    def __init__(self) -> None:
        self.run = run_dir().resolve()

    def _checked(self, pid_file: Path, marker: str) -> int:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if marker not in cmdline:
            raise RuntimeError(f"pid {pid} of {pid_file} is not {marker!r}: {cmdline[:200]}")
        return pid

    def service_pid(self, service: ServiceName) -> int:
        pid = self._checked(self.run / "run" / f"{service}.pid", f"serve {service}")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"ONESTOP_RUN_DIR={self.run}".encode() not in environ:
            raise RuntimeError(f"pid {pid} ({service}) does not run from {self.run}")
        return pid

    def kafka_pid(self) -> int:
        return self._checked(
            self.run / "kafka" / "kafka.pid", str(self.run / "kafka" / "server.properties")
        )

    @staticmethod
    async def kill(pid: int) -> None:
        """kill -9, and wait until the process is gone (or a zombie: it holds no port)."""
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return
            if stat[stat.rindex(")") + 2] == "Z":
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"pid {pid} still alive 10 s after SIGKILL")

    @staticmethod
    async def script(name: str, *args: str) -> None:
        process = await asyncio.create_subprocess_exec("bash", str(SCRIPTS / name), *args)
        if await process.wait():
            raise RuntimeError(f"{name} {' '.join(args)} failed (exit {process.returncode})")


@dataclass
class Experiment:
    name: str
    affected: tuple[ServiceName, ...]
    """Whose readiness and consumer are measured: the restarted service, or all three."""
    on_path: bool
    """The faulty part is on the register → assigned path (follow-up is not)."""
    new_process: bool
    fault_at: float = math.nan
    restored_at: float = math.nan
    """When the repair command returned (the service, broker or database started)."""
    repair_seconds: float = math.nan
    """How long the repair command took (a broker's start, a database's)."""
    base: dict[str, int] = field(default_factory=dict)
    relay_base: dict[str, int] = field(default_factory=dict)
    relay_resumed_at: dict[str, float | None] = field(default_factory=dict)
    unready_at: dict[str, float | None] = field(default_factory=dict)
    ready_at: dict[str, float | None] = field(default_factory=dict)
    resumed_at: dict[str, float | None] = field(default_factory=dict)
    caught_up_at: dict[str, float | None] = field(default_factory=dict)
    waited: float = 0.0
    """Seconds of load past the windows before the next fault, until the pipeline had
    caught up (so that one experiment's backlog does not count against the next)."""
    error: str | None = None

    @property
    def recovery(self) -> float:
        """When everything the fault touched was ready again."""
        times = [t for t in self.ready_at.values() if t is not None]
        if not times or len(times) < len(self.affected):
            return math.nan
        return max(times)


async def wait_ready(health: Health, exp: Experiment, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        exp.ready_at = {s: health.ready_at(s, exp.fault_at, exp.restored_at) for s in exp.affected}
        if all(t is not None for t in exp.ready_at.values()):
            return
        await asyncio.sleep(0.1)
    late = [s for s, t in exp.ready_at.items() if t is None]
    raise RuntimeError(f"not ready {timeout:.0f} s after the repair: {', '.join(late)}")


async def experiment(
    health: Health,
    exp: Experiment,
    fault: Callable[[], Awaitable[None]],
    repair: Callable[[], Awaitable[None]],
    down_for: float,
    settle: float,
    keeping_up: KeepingUp,
) -> None:
    """Break, wait `down_for`, repair, wait until ready, then `settle` more seconds of
    load (the windows after recovery), and more until the pipeline has caught up."""
    say(f"{exp.name} …")
    now = time.time()
    exp.base = {s: 0 if exp.new_process else health.processed_before(s, now) for s in exp.affected}
    exp.relay_base = {s: health.relayed_before(s, now) for s in exp.affected}
    try:
        exp.fault_at = time.time()
        await fault()
        await asyncio.sleep(max(0.0, exp.fault_at + down_for - time.time()))
        repairing = time.time()
        await repair()
        exp.restored_at = time.time()
        exp.repair_seconds = exp.restored_at - repairing
        await wait_ready(health, exp)
    except Exception as error:  # reported in the doc; the next experiment still runs
        exp.error = f"{type(error).__name__}: {error}"
        say(f"{exp.name}: {exp.error}")
        if math.isnan(exp.restored_at):  # not repaired: the next experiment needs it whole
            try:
                await repair()
            except Exception as again:
                exp.error += f"; the repair failed again: {again}"
            exp.restored_at = time.time()
        return
    say(
        f"{exp.name}: ready {exp.recovery - exp.fault_at:.1f} s after the fault; "
        f"{settle:.0f} s more load"
    )
    await asyncio.sleep(max(0.0, exp.recovery + settle - time.time()))
    exp.waited = await keeping_up.wait(CATCH_UP_TIMEOUT)
    if exp.waited > 1:
        say(f"{exp.name}: the pipeline caught up {exp.waited:.0f} s later")


class KeepingUp:
    """Asks routing whether the latest registrations answered at least `SLACK` seconds ago
    are assigned: then the pipeline is keeping up with the load."""

    SLACK = 2.0
    LATEST = 12  # twice the partitions: a stalled partition is not missed

    def __init__(self, url: str, token: str, load: Load) -> None:
        self.client = KeepAlive(url, {"Authorization": f"Bearer {token}"}, timeout=10.0)
        self.load = load

    async def now(self) -> bool:
        cutoff = time.time() - self.SLACK
        latest = itertools.islice(
            (
                r.case_id
                for r in reversed(self.load.registrations)
                if r.case_id and r.answers[-1].sent + r.answers[-1].seconds <= cutoff
            ),
            self.LATEST,
        )
        for case_id in latest:
            try:
                status, _ = await self.client.get(f"/v1/cases/{case_id}/assignment")
            except HTTPFailure:
                return False
            if status != 200:
                return False
        return True

    async def wait(self, timeout: float) -> float:
        start = time.time()
        while time.time() - start < timeout and not await self.now():
            await asyncio.sleep(1.0)
        return time.time() - start

    async def close(self) -> None:
        await self.client.close()


def measure_resumption(health: Health, exp: Experiment) -> None:
    for s in exp.affected:
        exp.unready_at[s] = health.unready_at(s, exp.fault_at)
        resumed = health.resumed_at(s, exp.fault_at, exp.base.get(s, 0))
        exp.resumed_at[s] = resumed
        exp.caught_up_at[s] = health.caught_up_at(s, resumed) if resumed is not None else None
        exp.relay_resumed_at[s] = health.relay_resumed_at(s, exp.fault_at, exp.relay_base.get(s, 0))


# --------------------------------------------------------------------------- the check


@dataclass
class CaseSeen:
    """What follow-up's history says of one case."""

    status: int | str
    registered: list[float] = field(default_factory=list)
    assigned: list[float] = field(default_factory=list)
    events: int = 0
    repeated_events: int = 0
    assigned_by_routing: bool = False
    verified: bool = False


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def read_history(status: int | str, body: bytes) -> CaseSeen:
    if status != 200:
        return CaseSeen(status)
    history = orjson.loads(body)
    events = history.get("events") or []
    ids = Counter(e["event_id"] for e in events)
    seen = CaseSeen(
        200,
        events=len(events),
        repeated_events=sum(n - 1 for n in ids.values() if n > 1),
        verified=bool((history.get("integrity") or {}).get("verified")),
    )
    for e in events:
        if e["type"].startswith(REGISTERED):
            seen.registered.append(parse_time(e["time"]))
        elif e["type"].startswith(ASSIGNED):
            seen.assigned.append(parse_time(e["time"]))
            seen.assigned_by_routing = seen.assigned_by_routing or e.get("service") == "routing"
    return seen


async def intake_cases(url: str, token: str) -> tuple[int, list[str]]:
    """Every case intake has, page by page (nothing registers any more)."""
    client = KeepAlive(url, {"Authorization": f"Bearer {token}"}, timeout=30.0)
    ids: list[str] = []
    total = 0
    try:
        while True:
            status, body = await client.get(f"/v1/cases?limit=200&offset={len(ids)}")
            if status != 200:
                raise RuntimeError(f"intake GET /v1/cases answered {status}: {body[:300]!r}")
            page = orjson.loads(body)
            total = int(page["total"])
            ids.extend(str(c["case_id"]) for c in page["cases"])
            if not page["cases"] or len(ids) >= total:
                return total, ids
    finally:
        await client.close()


async def histories(url: str, token: str, case_ids: list[str], wait: float) -> dict[str, CaseSeen]:
    """Each case's history; one not yet registered and assigned in it is read again (for
    up to `wait` seconds) so that a slow consumer is not taken for a lost case."""
    pool = [KeepAlive(url, {"Authorization": f"Bearer {token}"}, timeout=30.0) for _ in range(8)]
    seen: dict[str, CaseSeen] = {}
    deadline = time.time() + wait
    todo = list(case_ids)
    try:
        while todo:
            queue: asyncio.Queue[str] = asyncio.Queue()
            for case_id in todo:
                queue.put_nowait(case_id)

            async def worker(client: KeepAlive, queue: asyncio.Queue[str]) -> None:
                while not queue.empty():
                    case_id = queue.get_nowait()
                    status: int | str
                    try:
                        status, body = await client.get(f"/v1/cases/{case_id}/history")
                    except HTTPFailure as error:
                        status, body = failure_kind(error), b""
                    seen[case_id] = read_history(status, body)

            await asyncio.gather(*(worker(c, queue) for c in pool))
            todo = [c for c in todo if not (seen[c].registered and seen[c].assigned)]
            if not todo or time.time() > deadline:
                break
            say(f"{len(todo)} cases not yet complete in follow-up's history; reading them again")
            await asyncio.sleep(2.0)
    finally:
        await asyncio.gather(*(c.close() for c in pool))
    return seen


async def wait_drained(health: Health, timeout: float) -> float:
    """Until every service is ready with no lag in three polls running."""
    start = time.time()
    while time.time() - start < timeout:
        if all(
            len(health.samples[s]) >= 3
            and all(x.status == 200 and x.lag == 0 for x in health.samples[s][-3:])
            for s in SERVICES
        ):
            break
        await asyncio.sleep(0.5)
    return time.time() - start


@dataclass
class Check:
    logical: int = 0
    unanswered: int = 0
    refused: list[str] = field(default_factory=list)
    shared_ids: int = 0
    intake_total: int = 0
    missing_in_intake: int = 0
    extra_in_intake: int = 0
    no_history: int = 0
    not_assigned: int = 0
    not_by_routing: int = 0
    repeated_events: int = 0
    registered_not_once: int = 0
    assigned_not_once: int = 0
    unverified: int = 0
    replayed: int = 0
    """Registrations answered 200 `existing`: an earlier send had registered it."""
    retried: int = 0
    drained_in: float = math.nan

    @property
    def lost(self) -> int:
        return (
            self.unanswered
            + self.missing_in_intake
            + self.no_history
            + self.not_assigned
            + self.not_by_routing
        )

    @property
    def duplicated(self) -> int:
        return (
            self.shared_ids
            + self.extra_in_intake
            + self.repeated_events
            + self.registered_not_once
            + self.assigned_not_once
        )


def check_cases(
    load: Load, intake_total: int, intake_ids: list[str], seen: dict[str, CaseSeen]
) -> Check:
    regs = load.registrations
    mine = Counter(r.case_id for r in regs if r.case_id)
    theirs = set(intake_ids)
    c = Check(logical=len(regs), intake_total=intake_total)
    c.unanswered = sum(1 for r in regs if r.case_id is None)
    c.refused = [r.refused for r in regs if r.refused][:5]
    c.shared_ids = sum(n - 1 for n in mine.values() if n > 1)
    c.missing_in_intake = len(set(mine) - theirs)
    c.extra_in_intake = len(theirs - set(mine)) + (intake_total - len(theirs))
    for case_id in set(mine) | theirs:
        s = seen.get(case_id)
        if s is None or s.status != 200 or not s.registered:
            c.no_history += 1
            continue
        c.not_assigned += not s.assigned
        c.not_by_routing += bool(s.assigned) and not s.assigned_by_routing
        c.repeated_events += s.repeated_events
        c.registered_not_once += len(s.registered) != 1
        c.assigned_not_once += len(s.assigned) > 1
        c.unverified += not s.verified
    c.replayed = sum(1 for r in regs if r.outcome == "existing")
    c.retried = sum(1 for r in regs if len(r.answers) > 1)
    return c


# --------------------------------------------------------------------------- analysis


def keep_raw(
    path: Path,
    started: float,
    load: Load,
    health: Health,
    experiments: list[Experiment],
    cases: list[tuple[float, float, float | None]],
) -> None:
    """Every poll and every answer, for looking into a result afterwards."""
    raw = {
        "started": started,
        "experiments": experiments,
        "health": health.samples,
        "cases (due, stored, assigned)": cases,
        "registrations": [
            {"due": r.due, "case_id": r.case_id, "outcome": r.outcome, "answers": r.answers}
            for r in load.registrations
        ],
    }
    path.write_bytes(orjson.dumps(raw))


SLOW_SQL = re.compile(r"^(\S+ \S+) UTC \[\d+\] .*?duration: ([\d.]+) ms\s+(.*)$")


def slow_statements(log: Path, since: float) -> list[tuple[float, float, str]]:
    """PostgreSQL's own log of statements over 1 s (`log_min_duration_statement`, see
    postgres.sh): (when, seconds, statement). A COMMIT that takes seconds is the disk."""
    found = []
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        m = SLOW_SQL.match(line)
        if m is None:
            continue
        at = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()
        if at >= since:
            found.append((at, float(m.group(2)) / 1000, m.group(3)))
    return found


def log_errors(directory: Path) -> dict[str, tuple[int, int, list[tuple[str, int]]]]:
    """Per service log: error lines, warning lines, and the commonest error messages."""
    found: dict[str, tuple[int, int, list[tuple[str, int]]]] = {}
    for service in SERVICES:
        errors, warnings = 0, 0
        messages: Counter[str] = Counter()
        try:
            lines = (directory / f"{service}.log").read_bytes().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            level = entry.get("level")
            if level in ("error", "critical"):
                errors += 1
                messages[str(entry.get("message", ""))[:140]] += 1
            elif level == "warning":
                warnings += 1
        found[service] = (errors, warnings, messages.most_common(3))
    return found


# --------------------------------------------------------------------------- the run


def cli_token(role: str) -> str:
    """A token as a person would get one: `onestop token`."""
    onestop = Path(sys.executable).parent / "onestop"
    return subprocess.run(
        [str(onestop), "token", "--user", f"faults-{role}", "--role", role, "--hours", "2"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def run(opts: Options) -> dict[str, Any]:
    settings = Settings.load()
    kafka_options(settings)
    facts = machine_facts(settings)
    stack = Stack()
    clerk, auditor = cli_token("clerk"), cli_token("auditor")
    health = Health(settings)
    machine = Machine()
    limit = int(opts.rate * 900)
    load = Load(base_url(settings, "intake"), clerk, opts, limit)
    keeping_up = KeepingUp(base_url(settings, "routing"), auditor, load)
    pollers = asyncio.create_task(health.run())
    sampler = asyncio.create_task(machine.run())
    loader = asyncio.create_task(load.run())
    started = time.time()
    say(f"load: {opts.rate:g} registrations/s; {opts.baseline:.0f} s before the first fault")
    await asyncio.sleep(opts.baseline)

    experiments: list[Experiment] = []
    settle = 2 * WINDOW + GAP  # the windows after recovery, and a gap before the next
    for service in SERVICES:
        exp = Experiment(f"kill -9 {service}", (service,), service != "followup", True)
        experiments.append(exp)

        async def kill(service: ServiceName = service) -> None:
            await stack.kill(stack.service_pid(service))

        async def restart(service: ServiceName = service) -> None:
            await stack.script("services.sh", "start", service)

        await experiment(health, exp, kill, restart, 0.0, settle, keeping_up)

    exp = Experiment(f"kill -9 Kafka, {opts.kafka_down:.0f} s down", SERVICES, True, False)
    experiments.append(exp)

    async def kill_kafka() -> None:
        await stack.kill(stack.kafka_pid())

    async def start_kafka() -> None:
        await stack.script("kafka.sh", "start")

    await experiment(health, exp, kill_kafka, start_kafka, opts.kafka_down, settle, keeping_up)

    exp = Experiment(f"PostgreSQL stopped {opts.postgres_down:.0f} s", SERVICES, True, False)
    experiments.append(exp)

    async def stop_pg() -> None:
        await stack.script("postgres.sh", "stop")

    async def start_pg() -> None:
        await stack.script("postgres.sh", "start")

    await experiment(health, exp, stop_pg, start_pg, opts.postgres_down, settle, keeping_up)

    loaded = time.time() - started
    say(f"stopping the load after {loaded:.0f} s; waiting for registrations still retried")
    loader.cancel()
    await keeping_up.close()
    await load.finish(timeout=120)
    drained = await wait_drained(health, timeout=180)
    say(f"the pipeline drained in {drained:.1f} s; reading every case")
    intake_total, intake_ids = await intake_cases(base_url(settings, "intake"), auditor)
    wanted = sorted({r.case_id for r in load.registrations if r.case_id} | set(intake_ids))
    seen = await histories(base_url(settings, "followup"), auditor, wanted, wait=60)
    health.stop.set()
    machine.stop.set()
    await asyncio.gather(pollers, sampler)
    check = check_cases(load, intake_total, intake_ids, seen)
    check.drained_in = drained

    cases: list[tuple[float, float, float | None]] = []
    for r in load.registrations:
        s = seen.get(r.case_id) if r.case_id else None
        if s is not None and s.registered:
            cases.append((r.due, s.registered[0], s.assigned[0] if s.assigned else None))
    for exp in experiments:
        measure_resumption(health, exp)
    keep_raw(run_dir() / "faults-raw.json", started, load, health, experiments, cases)
    return {
        "facts": facts,
        "started": started,
        "loaded": loaded,
        "load": load,
        "health": health,
        "machine": machine,
        "experiments": experiments,
        "cases": cases,
        "check": check,
        "logs": log_errors(run_dir() / "log"),
        "slow_sql": slow_statements(run_dir() / "log" / "postgres.log", started),
    }


def parse_options(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Options()
    p.add_argument("--rate", type=float, default=d.rate, help="registrations/s (20)")
    p.add_argument("--connections", type=int, default=d.connections)
    p.add_argument("--baseline", type=float, default=d.baseline, help="load before faults (30 s)")
    p.add_argument("--kafka-down", type=float, default=d.kafka_down)
    p.add_argument("--postgres-down", type=float, default=d.postgres_down)
    p.add_argument("--write-docs", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    a = p.parse_args(argv)
    if not 1 <= a.rate <= 200:
        p.error("--rate must be between 1 and 200")
    if not 1 <= a.connections <= 256:
        p.error("--connections must be between 1 and 256")
    for name in ("baseline", "kafka_down", "postgres_down"):
        if not WINDOW <= getattr(a, name) <= 300:
            p.error(f"--{name.replace('_', '-')} must be between {WINDOW:.0f} and 300 s")
    return Options(
        rate=a.rate,
        connections=a.connections,
        baseline=a.baseline,
        kafka_down=a.kafka_down,
        postgres_down=a.postgres_down,
        write_docs=a.write_docs,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_options(argv)
    began = datetime.now(UTC)
    started = time.monotonic()
    results = asyncio.run(run(opts))
    results["seconds"] = time.monotonic() - started
    rows = verdicts(results)
    for row in rows:
        say(f"{row[2]:4}  {row[0]}: {row[1]}")
    if opts.write_docs:
        text = render(results, rows, opts, began)
        tmp = DOC.with_suffix(".md.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(DOC)
        say(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(row[2] == "pass" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
