"""Two of each: two copies of every service — six processes — on one PostgreSQL and one
Kafka, under a registration load, one copy of each killed and restarted; what it shows.

`make twins` (deploy/scripts/twins.sh) runs it in a database and under topics of its own
and writes docs/scale-out.md; tests/e2e/test_twins.py runs the same scenario, shorter, and
asserts what the document reports. In turn:

1. The six start at once (`onestop serve <service>`, copy a on the settings' ports, copy b
   on ports of its own; same database, same topic prefix) and the demo territory is
   imported. **The work shared**: each service's consumer group — as the broker tells the
   operator (`describe_groups`) and as each copy's `/health/ready` says — has both copies
   as members with every partition of the topics it follows held by exactly one of them,
   and exactly one copy's relay is the leader.
2. An open-loop load of registrations, sent to both intake copies in turn, each with its
   own `Idempotency-Key` and sent again with the same key to the other copy after a broken
   connection or a 5xx, as a load balancer would; each case registered is read at once
   from the intake copy that did not register it.
3. Mid-load, `kill -9` of the copy of each service whose relay leads (three processes at
   once). **Failover**: the survivor of each service holds every partition and leads the
   relay; how long each took. The load goes on through the surviving intake.
4. The killed copies restarted: each service's partitions spread over both copies again.
5. The load stops; once the pipeline is through, every case is checked — **0 lost, 0
   duplicated**: registered once, assigned once (one `case.assigned` per case), scheduled by
   follow-up, a verified hash-chained history, no event twice — and **consistency**: each
   case read from both copies of each service (intake's case, routing's assignment,
   follow-up's history) and the listings of both copies (intake's cases, routing's inboxes,
   follow-up's ledger) agree.
6. **The clock**: the drill clock moves 26 h on; both follow-up copies' clocks find every
   handling plan overdue at once, and each breach is recorded once — the second copy loses
   on the case's version and finds nothing left to fire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from kafka import KafkaAdminClient

from bench.common import ROOT, say
from bench.load import registration_bodies
from bench.wire import HTTPFailure, KeepAlive
from shared.auth import issue_token
from shared.clock import set_offset
from shared.kafka import client_options
from shared.kafka_access import followed_topics
from shared.settings import SERVICES, ServiceName, Settings

DOC = ROOT / "docs" / "scale-out.md"
TERRITORY = ROOT / "deploy" / "territories" / "ninghe-qiaocheng.yaml"
COPY_NAMES = ("a", "b")
POLL = 0.25
REGISTERED = "onestop.intake.case.registered."  # any version
ASSIGNED = "onestop.routing.case.assigned."
SCHEDULED = "onestop.followup.deadlines.scheduled."
OVERDUE = "onestop.followup.case.overdue."
CLOCK_EVENTS = (
    OVERDUE,
    "onestop.followup.deadline.reminder.",
    "onestop.followup.case.supervision-notice.",
)
HANDLING = {"handling-plan", "first-report", "resolution"}
"""The clocks follow-up starts when a case is assigned."""


# --------------------------------------------------------------------------- the six


@dataclass(frozen=True)
class Copy:
    service: ServiceName
    name: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.service} {self.name}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def get(client: KeepAlive, path: str) -> tuple[int, bytes]:
    """A GET, sent once more on a new connection if the kept-alive one had gone (the server
    closes a connection idle for 5 s; a GET is safe to send again)."""
    try:
        return await client.get(path)
    except HTTPFailure:
        return await client.get(path)


class Six:
    """Two copies of each service as `onestop serve` processes on one database and one topic
    prefix: copy a on the settings' ports, copy b on `second_base` + 1, 2, 3. Each copy is a
    static member of its service's consumer group by its port."""

    def __init__(
        self, settings: Settings, second_base: int, logs: Path, scheduler_seconds: float = 0.2
    ) -> None:
        self.settings = settings
        self.logs = logs
        self.clock_file = logs / "clock"
        self.scheduler_seconds = scheduler_seconds
        self.copies: dict[ServiceName, tuple[Copy, Copy]] = {
            s: (Copy(s, "a", settings.port_of(s)), Copy(s, "b", second_base + i))
            for i, s in enumerate(SERVICES, 1)
        }
        self.processes: dict[Copy, subprocess.Popen[bytes]] = {}

    def all(self) -> list[Copy]:
        return [c for pair in self.copies.values() for c in pair]

    def copy(self, service: ServiceName, name: str) -> Copy:
        return self.copies[service][COPY_NAMES.index(name)]

    def env(self, name: str) -> dict[str, str]:
        ports = {f"ONESTOP_{s.upper()}_PORT": str(self.copy(s, name).port) for s in SERVICES}
        return {
            **os.environ,
            "ONESTOP_PG_DBNAME": self.settings.pg_dbname,
            "ONESTOP_TOPIC_PREFIX": self.settings.topic_prefix,
            "ONESTOP_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            **ports,
            "ONESTOP_CLOCK_FILE": str(self.clock_file),  # the drill clock, for step 6
            "ONESTOP_SCHEDULER_SECONDS": str(self.scheduler_seconds),
        }

    def start(self, copy: Copy) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.clock_file.exists():
            set_offset(self.clock_file, timedelta(0))
        log = open(self.logs / f"{copy.service}-{copy.name}.log", "ab")  # noqa: SIM115 — the child's
        self.processes[copy] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", copy.service],
            cwd=ROOT,
            env=self.env(copy.name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log_tail(self, copy: Copy) -> str:
        try:
            return (self.logs / f"{copy.service}-{copy.name}.log").read_text()[-3000:]
        except OSError:
            return ""

    async def wait_ready(self, copies: Iterable[Copy], timeout: float) -> dict[Copy, float]:
        """Until each copy answers /health/ready with 200; when each did."""

        async def one(copy: Copy) -> float:
            client = KeepAlive(copy.url, {}, timeout=5.0)
            deadline = time.monotonic() + timeout
            try:
                while time.monotonic() < deadline:
                    process = self.processes.get(copy)
                    if process is None or process.poll() is not None:
                        raise RuntimeError(f"{copy.label} exited:\n{self.log_tail(copy)}")
                    with contextlib.suppress(HTTPFailure):
                        status, _ = await get(client, "/health/ready")
                        if status == 200:
                            return time.time()
                    await asyncio.sleep(POLL)
            finally:
                await client.close()
            raise TimeoutError(f"{copy.label} not ready within {timeout:.0f} s")

        wanted = list(copies)
        return dict(zip(wanted, await asyncio.gather(*map(one, wanted)), strict=True))

    def kill(self, copy: Copy) -> None:
        """kill -9: no goodbye, as in a power cut."""
        process = self.processes.pop(copy)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()

    def cli(self, *args: str) -> str:
        """`onestop <args>` against copy a; raises with its error output if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=ROOT,
            env=self.env("a"),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            raise RuntimeError(f"onestop {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout


# --------------------------------------------------------------------------- watching them


@dataclass(frozen=True)
class CopyState:
    """What one copy's /health/ready said (or that it did not answer)."""

    up: bool
    ready: bool = False
    leader: bool = False
    member: bool = False
    assigned: tuple[str, ...] = ()
    processed: int = 0


@dataclass(frozen=True)
class ServiceView:
    """One service at one moment: its consumer group as the broker describes it, and what
    each of its copies says of itself."""

    at: float
    group_state: str
    members: dict[str, tuple[str, ...]]
    """Per copy (by name), the partitions the broker assigned it."""
    strangers: int
    """Members that are none of the two copies (there should be none)."""
    copies: dict[str, CopyState]
    partitions: frozenset[str]
    """Every partition of the topics the service follows."""

    @property
    def leaders(self) -> list[str]:
        return [n for n, c in self.copies.items() if c.leader]

    def agrees(self, name: str) -> bool:
        """The copy says it is a member holding just what the broker says it holds."""
        own = self.copies[name]
        return own.member and set(own.assigned) == set(self.members.get(name, ()))

    def held(self) -> list[str]:
        return [p for parts in self.members.values() for p in parts]

    def covered(self) -> bool:
        held = self.held()
        return len(held) == len(set(held)) and set(held) == self.partitions

    def spread(self) -> bool:
        """Both copies members, each holding some of the partitions and together all of them
        once; one relay leader."""
        return (
            self.group_state == "Stable"
            and not self.strangers
            and set(self.members) == set(COPY_NAMES)
            and all(self.members[n] and self.agrees(n) for n in COPY_NAMES)
            and self.covered()
            and len(self.leaders) == 1
        )

    def held_by(self, name: str) -> bool:
        """The copy `name` alone holds every partition."""
        return (
            self.group_state == "Stable"
            and not self.strangers
            and set(self.members) == {name}
            and self.covered()
            and self.agrees(name)
        )

    def counts(self) -> dict[str, int]:
        return {n: len(self.members.get(n, ())) for n in COPY_NAMES}

    def per_topic(self, name: str) -> dict[str, int]:
        topics = Counter(p.rsplit(":", 1)[0] for p in self.members.get(name, ()))
        return {t.split(".")[-2]: n for t, n in sorted(topics.items())}


class Watch:
    """Asks the broker (as the operator, `shared.kafka.client_options(settings, "admin")`)
    and each copy's /health/ready how the work is shared."""

    def __init__(self, six: Six) -> None:
        self.six = six
        settings = six.settings
        self.admin = KafkaAdminClient(**client_options(settings, "admin"), client_id="twins-watch")
        self._admin_lock = asyncio.Lock()
        self.clients = {c: KeepAlive(c.url, {}, timeout=5.0) for c in six.all()}
        self.partitions = {
            s: frozenset(
                f"{topic}:{p}"
                for topic in followed_topics(settings, s)
                for p in range(settings.topic_partitions)
            )
            for s in SERVICES
        }

    def _group(self, service: ServiceName) -> tuple[str, dict[str, tuple[str, ...]], int]:
        group_id = f"{self.six.settings.topic_prefix}.{service}"
        found = self.admin.describe_groups([group_id])[group_id]
        by_port = {c.port: c.name for c in self.six.copies[service]}
        members: dict[str, tuple[str, ...]] = {}
        strangers = 0
        for member in found.get("members") or []:
            instance = str(member.get("group_instance_id") or "")
            port = instance.rsplit("-", 1)[-1]
            name = by_port.get(int(port)) if port.isdigit() else None
            if name is None:
                strangers += 1
                continue
            assignment = member.get("member_assignment") or {}
            members[name] = tuple(
                sorted(
                    f"{t['topic']}:{p}"
                    for t in assignment.get("assigned_partitions") or []
                    for p in t["partitions"]
                )
            )
        return str(found.get("group_state")), members, strangers

    async def _state(self, copy: Copy) -> CopyState:
        try:
            status, body = await get(self.clients[copy], "/health/ready")
        except HTTPFailure:
            return CopyState(up=False)
        report = orjson.loads(body)
        consumer = report.get("consumer") or {}
        return CopyState(
            up=True,
            ready=status == 200,
            leader=bool((report.get("relay") or {}).get("leader")),
            member=bool(consumer.get("member")),
            assigned=tuple(consumer.get("assigned") or ()),
            processed=int(consumer.get("processed") or 0),
        )

    async def view(self, service: ServiceName) -> ServiceView:
        async with self._admin_lock:
            state, members, strangers = await asyncio.to_thread(self._group, service)
        copies = await asyncio.gather(*map(self._state, self.six.copies[service]))
        return ServiceView(
            time.time(),
            state,
            members,
            strangers,
            {c.name: s for c, s in zip(self.six.copies[service], copies, strict=True)},
            self.partitions[service],
        )

    async def until(
        self,
        service: ServiceName,
        conditions: dict[str, Callable[[ServiceView], bool]],
        timeout: float,
    ) -> tuple[dict[str, float], ServiceView]:
        """Polls until every condition has held once; when each first held, and the last view."""
        met: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while True:
            view = await self.view(service)
            for name, condition in conditions.items():
                if name not in met and condition(view):
                    met[name] = view.at
            if len(met) == len(conditions):
                return met, view
            if time.monotonic() > deadline:
                missing = ", ".join(n for n in conditions if n not in met)
                raise TimeoutError(
                    f"{service}: not within {timeout:.0f} s: {missing}; last seen {describe(view)}"
                )
            await asyncio.sleep(POLL)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()))
        await asyncio.to_thread(self.admin.close)


def describe(view: ServiceView) -> str:
    copies = "; ".join(
        f"{n}: {'up' if c.up else 'down'}, {len(view.members.get(n, ()))} partitions by the "
        f"broker, {len(c.assigned)} by itself{', relay leader' if c.leader else ''}"
        for n, c in view.copies.items()
    )
    return f"group {view.group_state}, {view.strangers} strangers; {copies}"


# --------------------------------------------------------------------------- the load


@dataclass
class Registration:
    """One citizen's submission, however often and wherever it is sent."""

    key: str
    body: bytes
    first: int
    """The intake copy (0: a, 1: b) it went to first; a retry goes to the other."""
    answers: list[tuple[str, int | str]] = field(default_factory=list)
    case_id: str | None = None
    outcome: str | None = None
    refused: str | None = None
    cross_read: int | str | None = None
    """The other intake copy's answer to reading the case right after it was registered."""


class Load:
    """Registrations due at `rate` per second whatever became of earlier ones, on keep-alive
    connections to both intake copies."""

    def __init__(
        self, six: Six, clerk: str, auditor: str, rate: float, connections: int, retry: float
    ) -> None:
        self.rate, self.retry = rate, retry
        self.intakes = six.copies["intake"]
        posting = {"Authorization": f"Bearer {clerk}", "Content-Type": "application/json"}
        reading = {"Authorization": f"Bearer {auditor}"}
        self.posts: list[asyncio.Queue[KeepAlive]] = []
        self.reads: list[asyncio.Queue[KeepAlive]] = []
        for copy in self.intakes:
            posts: asyncio.Queue[KeepAlive] = asyncio.Queue()
            reads: asyncio.Queue[KeepAlive] = asyncio.Queue()
            for _ in range(connections):
                posts.put_nowait(KeepAlive(copy.url, posting, timeout=60.0))
                reads.put_nowait(KeepAlive(copy.url, reading, timeout=30.0))
            self.posts.append(posts)
            self.reads.append(reads)
        self.registrations: list[Registration] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    async def run(self, limit: int) -> None:
        start = time.monotonic()
        for i, body in enumerate(registration_bodies(limit, seed=17)):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stopping.is_set():
                return
            r = Registration(uuid4().hex, body, i % 2)
            self.registrations.append(r)
            task = asyncio.create_task(self._register(r))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _register(self, r: Registration) -> None:
        attempt = 0
        while True:
            at = (r.first + attempt) % 2
            attempt += 1
            client = await self.posts[at].get()
            status: int | str
            try:
                status, body = await client.post("/v1/cases", r.body, {"Idempotency-Key": r.key})
            except HTTPFailure as error:
                status, body = str(error).split(":", 1)[0], b""
            finally:
                self.posts[at].put_nowait(client)
            r.answers.append((COPY_NAMES[at], status))
            if status in (200, 201):
                answer = orjson.loads(body)
                r.case_id, r.outcome = str(answer["case_id"]), str(answer["outcome"])
                await self._read_across(r, 1 - at)
                return
            if isinstance(status, int) and status < 500:
                r.refused = f"{status}: {body[:300].decode(errors='replace')}"
                return
            await asyncio.sleep(self.retry)

    async def _read_across(self, r: Registration, at: int) -> None:
        """The case, read at once from the copy that did not register it."""
        client = await self.reads[at].get()
        try:
            status, _ = await get(client, f"/v1/cases/{r.case_id}")
            r.cross_read = status
        except HTTPFailure:
            r.cross_read = "down"  # that copy is the one killed: nothing to compare
        finally:
            self.reads[at].put_nowait(client)

    def answered(self) -> int:
        return sum(1 for r in self.registrations if r.case_id)

    async def until_answered(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.answered() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {self.answered()} of {count} registrations answered in {timeout:.0f} s"
                )
            await asyncio.sleep(POLL)

    async def finish(self, timeout: float) -> None:
        """Send nothing new; wait for those still being sent again."""
        self.stopping.set()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        for queues in (self.posts, self.reads):
            for q in queues:
                while not q.empty():
                    await q.get_nowait().close()


# --------------------------------------------------------------------------- reading back


class Reader:
    """GETs as an auditor from any copy, a few connections per copy."""

    def __init__(self, six: Six, auditor: str, connections: int = 4) -> None:
        headers = {"Authorization": f"Bearer {auditor}"}
        self.pools: dict[Copy, asyncio.Queue[KeepAlive]] = {}
        for copy in six.all():
            pool: asyncio.Queue[KeepAlive] = asyncio.Queue()
            for _ in range(connections):
                pool.put_nowait(KeepAlive(copy.url, headers, timeout=30.0))
            self.pools[copy] = pool

    async def get(self, copy: Copy, path: str) -> tuple[int | str, Any]:
        client = await self.pools[copy].get()
        try:
            status, body = await get(client, path)
        except HTTPFailure as error:
            return str(error)[:80], None
        finally:
            self.pools[copy].put_nowait(client)
        return status, orjson.loads(body) if status == 200 else body[:300]

    async def each(self, copy: Copy, paths: list[str]) -> list[tuple[int | str, Any]]:
        return list(await asyncio.gather(*(self.get(copy, p) for p in paths)))

    async def close(self) -> None:
        for pool in self.pools.values():
            while not pool.empty():
                await pool.get_nowait().close()


@dataclass
class CaseSeen:
    """What follow-up's history says of one case."""

    status: int | str
    events: list[dict[str, Any]] = field(default_factory=list)
    deadlines: set[str] = field(default_factory=set)
    verified: bool = False
    head: str | None = None

    def of(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"].startswith(prefix)]

    @property
    def scheduled(self) -> bool:
        """Follow-up put the case's handling on the clock in answer to its assignment, and
        its own event saying so is in the history (it comes back through Kafka)."""
        assigned = {e["event_id"] for e in self.of(ASSIGNED)}
        return self.deadlines >= HANDLING and any(
            e.get("causation_id") in assigned for e in self.of(SCHEDULED)
        )

    @property
    def complete(self) -> bool:
        return self.status == 200 and bool(self.of(REGISTERED)) and self.scheduled

    @property
    def breached(self) -> bool:
        return any(e["data"].get("deadline") == "handling-plan" for e in self.of(OVERDUE))


def case_seen(status: int | str, history: Any) -> CaseSeen:
    if status != 200 or not isinstance(history, dict):
        return CaseSeen(status)
    integrity = history.get("integrity") or {}
    return CaseSeen(
        200,
        list(history.get("events") or []),
        {d["kind"] for d in (history.get("case") or {}).get("deadlines") or []},
        bool(integrity.get("verified")),
        integrity.get("head_hash"),
    )


async def histories(
    reader: Reader,
    six: Six,
    case_ids: list[str],
    done: Callable[[CaseSeen], bool],
    timeout: float,
) -> dict[str, CaseSeen]:
    """Each case's history, from the follow-up copies in turn; those not yet `done` are read
    again until they are (or `timeout`), so a pipeline still at work is not taken for a
    lost case."""
    copies = six.copies["followup"]
    seen: dict[str, CaseSeen] = {}
    todo = list(case_ids)
    deadline = time.monotonic() + timeout
    while todo:
        for i in range(0, len(todo), 200):
            chunk = todo[i : i + 200]
            answers = await asyncio.gather(
                *(
                    reader.get(copies[j % 2], f"/v1/cases/{case_id}/history")
                    for j, case_id in enumerate(chunk)
                )
            )
            for case_id, (status, history) in zip(chunk, answers, strict=True):
                seen[case_id] = case_seen(status, history)
        todo = [c for c in todo if not done(seen[c])]
        if not todo or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    return seen


# --------------------------------------------------------------------------- the checks


@dataclass
class Tally:
    """What became of every registration, and whether the copies agree about it."""

    logical: int = 0
    answered: int = 0
    refused: list[str] = field(default_factory=list)
    retried: int = 0
    moved: int = 0
    """Answered by the other intake copy than the one first asked."""
    replayed: int = 0
    """Answered 200 `existing`: an earlier send had registered it."""
    client_errors: Counter[str] = field(default_factory=Counter)
    """What clients met before an answer, by copy and kind."""
    shared_ids: int = 0
    missing_in_intake: int = 0
    extra_in_intake: int = 0
    no_history: int = 0
    not_assigned: int = 0
    not_scheduled: int = 0
    unverified: int = 0
    registered_not_once: int = 0
    assigned_not_once: int = 0
    repeated_events: int = 0
    cross_reads: Counter[str] = field(default_factory=Counter)
    """The other intake copy's answers to reading each case right after it was registered."""
    compared: int = 0
    disagreements: list[str] = field(default_factory=list)
    listings: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """Per listing, the totals copy a and copy b gave."""

    def losses(self) -> dict[str, int]:
        return {
            "unanswered": self.logical - self.answered - len(self.refused),
            "missing in intake": self.missing_in_intake,
            "no history": self.no_history,
            "not assigned": self.not_assigned,
            "not scheduled": self.not_scheduled,
        }

    def duplicates(self) -> dict[str, int]:
        return {
            "one case for two registrations": self.shared_ids,
            "extra in intake": self.extra_in_intake,
            "registered other than once": self.registered_not_once,
            "assigned more than once": self.assigned_not_once,
            "an event twice in a history": self.repeated_events,
        }

    @property
    def lost(self) -> int:
        return sum(self.losses().values())

    @property
    def duplicated(self) -> int:
        return sum(self.duplicates().values())

    @property
    def inconsistent(self) -> int:
        missing = sum(n for k, n in self.cross_reads.items() if k not in ("200", "down"))
        return missing + len(self.disagreements)


async def intake_listing(reader: Reader, copy: Copy) -> tuple[int, list[str]]:
    """Every case intake lists, page by page."""
    ids: list[str] = []
    while True:
        status, page = await reader.get(copy, f"/v1/cases?limit=200&offset={len(ids)}")
        if status != 200:
            raise RuntimeError(f"{copy.label}: GET /v1/cases answered {status}: {page!r}")
        ids += [str(c["case_id"]) for c in page["cases"]]
        if not page["cases"] or len(ids) >= int(page["total"]):
            return int(page["total"]), ids


def tally_load(load: Load) -> Tally:
    t = Tally(logical=len(load.registrations))
    mine = Counter(r.case_id for r in load.registrations if r.case_id)
    t.answered = len([r for r in load.registrations if r.case_id])
    t.shared_ids = sum(n - 1 for n in mine.values() if n > 1)
    t.refused = [r.refused for r in load.registrations if r.refused]
    t.retried = sum(1 for r in load.registrations if len(r.answers) > 1)
    t.moved = sum(
        1 for r in load.registrations if r.case_id and r.answers[-1][0] != COPY_NAMES[r.first]
    )
    t.replayed = sum(1 for r in load.registrations if r.outcome == "existing")
    for r in load.registrations:
        for copy, status in r.answers:
            if status not in (200, 201):
                t.client_errors[f"intake {copy}: {status}"] += 1
        if r.cross_read is not None:
            t.cross_reads[str(r.cross_read)] += 1
    return t


def tally_histories(t: Tally, seen: dict[str, CaseSeen]) -> None:
    for s in seen.values():
        if s.status != 200 or not s.of(REGISTERED):
            t.no_history += 1
            continue
        t.not_assigned += not s.of(ASSIGNED)
        t.not_scheduled += not s.scheduled
        t.unverified += not s.verified
        t.registered_not_once += len(s.of(REGISTERED)) != 1
        t.assigned_not_once += len(s.of(ASSIGNED)) > 1
        ids = Counter(e["event_id"] for e in s.events)
        t.repeated_events += sum(n - 1 for n in ids.values() if n > 1)


async def compare_copies(t: Tally, reader: Reader, six: Six, case_ids: list[str]) -> None:
    """Each case read from both copies of each service: the same answer."""
    t.compared = len(case_ids)
    for service, path in (
        ("intake", "/v1/cases/{}"),
        ("routing", "/v1/cases/{}/assignment"),
        ("followup", "/v1/cases/{}/history"),
    ):
        a, b = six.copies[service]  # type: ignore[index]
        paths = [path.format(c) for c in case_ids]
        first, second = await asyncio.gather(reader.each(a, paths), reader.each(b, paths))
        for case_id, x, y in zip(case_ids, first, second, strict=True):
            if service == "followup":
                # the case's own view counts time left from now: compare what happened
                x = (x[0], [e["event_id"] for e in x[1]["events"]]) if x[0] == 200 else x
                y = (y[0], [e["event_id"] for e in y[1]["events"]]) if y[0] == 200 else y
            if x != y or x[0] != 200:
                t.disagreements.append(f"{service} {case_id}: a {x[0]}, b {y[0]}")


async def compare_listings(t: Tally, reader: Reader, six: Six, leads: set[str]) -> None:
    """The listings of both copies of each service agree."""
    ia, ib = six.copies["intake"]
    (ta, ids_a), (tb, ids_b) = await asyncio.gather(
        intake_listing(reader, ia), intake_listing(reader, ib)
    )
    t.listings["intake GET /v1/cases"] = (ta, tb)
    if ta != tb or set(ids_a) != set(ids_b):
        t.disagreements.append("intake's listings differ between its copies")
    checks = [("routing", f"/v1/departments/{d}/inbox?limit=1") for d in sorted(leads)]
    checks += [("routing", "/v1/dispatch-queue?limit=1")]
    checks += [("followup", f"/v1/deadlines?state={s}&limit=1") for s in ("running", "overdue")]
    for service, path in checks:
        a, b = six.copies[service]  # type: ignore[index]
        (sa, pa), (sb, pb) = await asyncio.gather(reader.get(a, path), reader.get(b, path))
        totals = (
            int(pa["total"]) if sa == 200 else None,
            int(pb["total"]) if sb == 200 else None,
        )
        t.listings[f"{service} GET {path.replace('&limit=1', '').replace('?limit=1', '')}"] = totals
        if totals[0] is None or totals[0] != totals[1]:
            t.disagreements.append(f"{service} {path}: a {sa} {totals[0]}, b {sb} {totals[1]}")


def clock_repeats(seen: dict[str, CaseSeen]) -> tuple[int, int, Counter[str]]:
    """(handling plans found overdue, alarms recorded more than once, alarms by type)."""
    overdue = twice = 0
    by_type: Counter[str] = Counter()
    for s in seen.values():
        fired: Counter[tuple[str, str]] = Counter()
        for e in s.events:
            kind = next((k for k in CLOCK_EVENTS if e["type"].startswith(k)), None)
            if kind is None:
                continue
            data = e["data"]
            deadline = str(data.get("deadline_id") or data.get("deadline") or data.get("kind"))
            fired[(kind, deadline)] += 1
            by_type[kind.split(".")[-2]] += 1
        twice += sum(n - 1 for n in fired.values() if n > 1)
        overdue += s.breached
    return overdue, twice, by_type


# --------------------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Plan:
    rate: float = 20.0
    connections: int = 8
    """Keep-alive connections per intake copy."""
    before: int = 300
    """Registrations answered before the kill."""
    during: int = 200
    """Registrations answered while one copy of each service is down."""
    after: int = 200
    """Registrations answered once the killed copies are back."""
    retry: float = 0.5
    compare: int | None = None
    """How many cases to read from both copies of each service (None: all)."""
    clock_hours: float = 26.0
    timeout: float = 120.0
    """The longest wait for any one thing to happen."""


@dataclass
class Failover:
    service: ServiceName
    victim: str
    survivor: str
    killed_at: float
    consumer_at: float = 0.0
    """When the survivor alone held every partition (the broker and itself say so)."""
    relay_at: float = 0.0
    """When the survivor's relay led."""
    restarted_at: float = 0.0
    ready_at: float = 0.0
    spread_at: float = 0.0
    """When both copies shared the partitions again."""
    before: ServiceView | None = None
    during: ServiceView | None = None
    after: ServiceView | None = None


@dataclass
class Result:
    plan: Plan
    started: float = 0.0
    ready_in: float = 0.0
    spread: dict[str, ServiceView] = field(default_factory=dict)
    failovers: dict[str, Failover] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    drained_in: float = 0.0
    clock_cases: int = 0
    clock_overdue: int = 0
    clock_twice: int = 0
    clock_events: Counter[str] = field(default_factory=Counter)
    clock_in: float = 0.0
    clock_ledgers: tuple[int | None, int | None] = (None, None)
    loaded: float = 0.0
    seconds: float = 0.0


async def scenario(six: Six, plan: Plan, territory: Path = TERRITORY) -> Result:
    """Steps 1 to 6 of the module's docstring on six started here; stops them at the end."""
    result = Result(plan, started=time.time())
    settings = six.settings
    began = time.monotonic()
    clerk = issue_token(settings, "twins-clerk", "clerk", "window-1", timedelta(hours=2))
    auditor = issue_token(settings, "twins-auditor", "auditor", None, timedelta(hours=2))
    watch = Watch(six)
    reader = Reader(six, auditor)
    load = Load(six, clerk, auditor, plan.rate, plan.connections, plan.retry)
    loader: asyncio.Task[None] | None = None
    try:
        say("starting two copies of each service")
        for copy in six.all():
            six.start(copy)
        await six.wait_ready(six.all(), plan.timeout)
        result.ready_in = time.time() - result.started
        say(f"six ready in {result.ready_in:.1f} s; importing the territory")
        await asyncio.to_thread(six.cli, "territory", "import", str(territory))

        for service in SERVICES:
            _, view = await watch.until(service, {"spread": ServiceView.spread}, plan.timeout)
            result.spread[service] = view
            say(f"{service}: {view.counts()} partitions, relay leader {view.leaders}")

        total = plan.before + plan.during + plan.after
        limit = int(total * 3 + plan.rate * 600)  # the load outruns any wait below
        loader = asyncio.create_task(load.run(limit))
        started = time.monotonic()
        await load.until_answered(plan.before, plan.timeout + plan.before / plan.rate)

        # the copy whose relay leads, as both copies answer under load (a copy too busy to
        # answer its health check in time would otherwise be taken for no leader)
        views = await asyncio.gather(
            *(
                watch.until(s, {"one leader": lambda v: len(v.leaders) == 1}, plan.timeout)
                for s in SERVICES
            )
        )
        for service, (_, view) in zip(SERVICES, views, strict=True):
            victim = view.leaders[0]
            survivor = "b" if victim == "a" else "a"
            result.failovers[service] = Failover(service, victim, survivor, 0.0, before=view)
        say("kill -9 of " + ", ".join(f"{s} {f.victim}" for s, f in result.failovers.items()))
        for f in result.failovers.values():
            six.kill(six.copy(f.service, f.victim))
            f.killed_at = time.time()

        async def take_over(f: Failover) -> None:
            met, f.during = await watch.until(
                f.service,
                {
                    "consumer": lambda v: v.held_by(f.survivor),
                    "relay": lambda v: v.leaders == [f.survivor],
                },
                plan.timeout,
            )
            f.consumer_at, f.relay_at = met["consumer"], met["relay"]

        await asyncio.gather(*map(take_over, result.failovers.values()))
        for f in result.failovers.values():
            say(
                f"{f.service} {f.survivor} took over: partitions in "
                f"{f.consumer_at - f.killed_at:.1f} s, relay in {f.relay_at - f.killed_at:.1f} s"
            )
        await load.until_answered(plan.before + plan.during, plan.timeout)

        say("restarting the killed copies")
        for f in result.failovers.values():
            six.start(six.copy(f.service, f.victim))
            f.restarted_at = time.time()
        ready = await six.wait_ready(
            [six.copy(f.service, f.victim) for f in result.failovers.values()], plan.timeout
        )
        for copy, at in ready.items():
            result.failovers[copy.service].ready_at = at

        async def rejoin(f: Failover) -> None:
            met, f.after = await watch.until(
                f.service, {"spread": ServiceView.spread}, plan.timeout
            )
            f.spread_at = met["spread"]

        await asyncio.gather(*map(rejoin, result.failovers.values()))
        for f in result.failovers.values():
            say(f"{f.service} {f.victim} rejoined {f.spread_at - f.restarted_at:.1f} s after start")
        await load.until_answered(total, plan.timeout)
        result.loaded = time.monotonic() - started
        await load.finish(plan.timeout)
        loader.cancel()

        say(f"{len(load.registrations)} registrations sent; reading every case back")
        tally = result.tally = tally_load(load)
        case_ids = sorted({r.case_id for r in load.registrations if r.case_id})
        draining = time.monotonic()
        seen = await histories(
            reader, six, case_ids, lambda s: s.complete, plan.timeout + len(case_ids) / 20
        )
        result.drained_in = time.monotonic() - draining
        tally_histories(tally, seen)
        _, listed = await intake_listing(reader, six.copy("intake", "a"))
        tally.missing_in_intake = len(set(case_ids) - set(listed))
        tally.extra_in_intake = len(set(listed) - set(case_ids))
        compared = (
            case_ids if plan.compare is None else case_ids[:: max(1, len(case_ids) // plan.compare)]
        )
        await compare_copies(tally, reader, six, compared)
        leads = set()
        for s in seen.values():
            for e in s.of(ASSIGNED):
                leads.add(str(e["data"]["lead"]["code"]))
        await compare_listings(tally, reader, six, leads)
        say(
            f"lost {tally.lost}, duplicated {tally.duplicated}, "
            f"copies disagreeing {tally.inconsistent}"
        )

        say(f"the drill clock moves {plan.clock_hours:g} h on")
        moved = time.monotonic()
        set_offset(six.clock_file, timedelta(hours=plan.clock_hours))
        fired = await histories(
            reader, six, case_ids, lambda s: s.breached, plan.timeout + len(case_ids) / 20
        )
        result.clock_in = time.monotonic() - moved
        result.clock_cases = len(case_ids)
        result.clock_overdue, result.clock_twice, result.clock_events = clock_repeats(fired)
        fa, fb = six.copies["followup"]
        path = "/v1/deadlines?state=overdue&limit=1"
        (sa, pa), (sb, pb) = await asyncio.gather(reader.get(fa, path), reader.get(fb, path))
        result.clock_ledgers = (
            int(pa["total"]) if sa == 200 else None,
            int(pb["total"]) if sb == 200 else None,
        )
        say(
            f"{result.clock_overdue} of {len(case_ids)} handling plans overdue, "
            f"{result.clock_twice} alarms recorded twice"
        )
    finally:
        if loader is not None:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
        load.stopping.set()
        await watch.close()
        await reader.close()
        six.stop()
    result.seconds = time.monotonic() - began
    return result


# --------------------------------------------------------------------------- the report


def verdicts(r: Result) -> list[tuple[str, str, bool]]:
    t = r.tally
    fo = r.failovers.values()
    return [
        (
            "the work shared",
            "partitions per copy and the one relay leading: "
            + "; ".join(
                f"{s} a {v.counts()['a']} + b {v.counts()['b']}, relay {'/'.join(v.leaders)}"
                for s, v in r.spread.items()
            ),
            len(r.spread) == 3 and all(v.spread() for v in r.spread.values()),
        ),
        (
            "failover",
            "kill -9 of the leading copy; its partitions / relay taken by the survivor in: "
            + "; ".join(
                f"{f.service} {f.victim}→{f.survivor} {f.consumer_at - f.killed_at:.1f} s / "
                f"{f.relay_at - f.killed_at:.1f} s"
                for f in fo
            ),
            len(r.failovers) == 3
            and all(
                f.before is not None
                and f.before.leaders == [f.victim]
                and f.killed_at < f.relay_at
                and f.killed_at < f.consumer_at
                for f in fo
            ),
        ),
        (
            "rejoin",
            "the restarted copies share the partitions again: "
            + "; ".join(
                f"{f.service} {f.spread_at - f.restarted_at:.1f} s after start" for f in fo
            ),
            len(r.failovers) == 3 and all(f.spread_at for f in fo),
        ),
        ("0 lost", f"{t.lost} lost of {t.logical:,} registrations", t.logical > 0 and t.lost == 0),
        ("0 duplicated", f"{t.duplicated} duplicated", t.duplicated == 0),
        (
            "the copies agree",
            f"{t.inconsistent} disagreements ({t.cross_reads.get('200', 0):,} cases read from the "
            f"other intake copy at once, {t.compared:,} from both copies of each service, "
            f"{len(t.listings)} listings)",
            t.inconsistent == 0,
        ),
        (
            "the clock fires once",
            f"{r.clock_overdue:,} of {r.clock_cases:,} handling plans overdue, "
            f"{r.clock_twice} alarms recorded twice",
            r.clock_cases > 0 and r.clock_overdue == r.clock_cases and r.clock_twice == 0,
        ),
    ]


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def render(r: Result, facts: dict[str, str], began: datetime, settings: Settings) -> str:
    rows = verdicts(r)
    t = r.tally
    p = r.plan
    ok = all(row[2] for row in rows)
    out = [
        "# Two of each: scale-out shown",
        "",
        f"_Written by `make twins` (bench/twins.py, deploy/scripts/twins.sh) on "
        f"{began:%Y-%m-%d %H:%M} UTC in {r.seconds:.0f} s. Do not edit by hand: run "
        "`make twins` again._",
        "",
        f"Result: **{'PASSED' if ok else 'FAILED'}**.",
        "",
        "## Machine",
        "",
        "|  |  |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "The six processes, PostgreSQL, Kafka and the load generator share the machine's cores "
        "with whatever else runs on it, so the times below are noisy; the counts are not.",
        "",
        "## What was done",
        "",
        "Two copies of every service — six `onestop serve` processes — on one PostgreSQL "
        f"database and one Kafka broker, with the same topics ({settings.topic_partitions} "
        "partitions each): copy a and copy b of each service differ only in their HTTP port, "
        "which also names each one's static membership of its service's consumer group. "
        f"An open-loop load of {p.rate:g} registrations/s goes to both intake copies in turn, "
        "each with its own `Idempotency-Key`, sent again with the same key to the other copy "
        f"{p.retry:g} s after a broken connection or a 5xx. After {p.before} registrations "
        "were answered, the copy of each service whose relay led was killed with `kill -9` "
        f"(three at once); after {p.during} more, they were restarted; after {p.after} more "
        "the load stopped. Each service's group is read from the broker as the operator "
        "(`describe_groups`) and from each copy's `/health/ready` every "
        f"{POLL:g} s. At the end every case's history is read from follow-up, every case from "
        "both copies of each service, the listings from both copies; then the drill clock "
        f"moves {p.clock_hours:g} h on and every handling plan falls overdue at once under "
        "two follow-up clocks.",
        "",
        "## Verdict",
        "",
        "| promise | result | verdict |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {'pass' if c else 'FAIL'} |" for a, b, c in rows),
        "",
        "## The work shared",
        "",
        "Partitions each copy held (from the broker; each copy's own `/health/ready` said the "
        "same), by the topic they belong to, and whose relay led:",
        "",
        "| service | when | copy a | copy b | relay leader |",
        "| --- | --- | --- | --- | --- |",
    ]
    for service in SERVICES:
        f = r.failovers.get(service)
        for when, view in (
            ("both running", r.spread.get(service)),
            (f"{f.victim} killed" if f else "—", f.during if f else None),
            (f"{f.victim} back" if f else "—", f.after if f else None),
        ):
            if view is None:
                continue
            cells = [
                ", ".join(f"{n} of {topic}" for topic, n in view.per_topic(name).items()) or "none"
                for name in COPY_NAMES
            ]
            out.append(
                f"| {service} | {when} | {cells[0]} | {cells[1]} | "
                f"{', '.join(view.leaders) or '—'} |"
            )
    out += [
        "",
        "## Failover",
        "",
        "From the `kill -9` to: the survivor holding every partition (the broker's group "
        "Stable with the survivor its only member, and the survivor saying so), and the "
        "survivor's relay leading (it takes the PostgreSQL advisory lock once the dead "
        "process's connection is gone). From the restart to: ready, and both copies "
        "sharing the partitions again.",
        "",
        "| service | killed | partitions taken over | relay taken over | restarted: ready | "
        "sharing again |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in r.failovers.values():
        out.append(
            f"| {f.service} | copy {f.victim} | {_s(f.consumer_at - f.killed_at)} | "
            f"{_s(f.relay_at - f.killed_at)} | {_s(f.ready_at - f.restarted_at)} | "
            f"{_s(f.spread_at - f.restarted_at)} |"
        )
    out += [
        "",
        "The partitions wait for the dead member's session to expire (10 s, "
        "`session_timeout_ms` in shared/kafka.py) and a rebalance; the relay needs only the "
        "next attempt at the lock (every second).",
        "",
        "## 0 lost, 0 duplicated",
        "",
        "| count | |",
        "| --- | --- |",
        f"| registrations (logical) | {t.logical:,} |",
        f"| answered 201/200 | {t.answered:,} |",
        f"| refused (4xx) | {len(t.refused)} |",
        f"| sent more than once | {t.retried:,} |",
        f"| answered by the other intake copy | {t.moved:,} |",
        f"| answered `existing` (an earlier send had registered it) | {t.replayed:,} |",
        "| what clients met before an answer | "
        + (", ".join(f"{n}× {k}" for k, n in t.client_errors.most_common()) or "nothing")
        + " |",
        f"| lost: unanswered, missing in intake, no history, not assigned, not scheduled | "
        f"{t.logical - t.answered - len(t.refused)}, {t.missing_in_intake}, {t.no_history}, "
        f"{t.not_assigned}, {t.not_scheduled} |",
        f"| duplicated: one case for two registrations, extra in intake, registered ≠ once, "
        f"assigned > once, an event twice in a history | {t.shared_ids}, {t.extra_in_intake}, "
        f"{t.registered_not_once}, {t.assigned_not_once}, {t.repeated_events} |",
        f"| histories whose hash chain did not verify | {t.unverified} |",
        f"| the pipeline through, after the load stopped | {_s(r.drained_in)} |",
        "",
        "## The copies agree",
        "",
        "Right after each registration was answered, the other intake copy was asked for the "
        "case: " + ", ".join(f"{n:,}× {k}" for k, n in t.cross_reads.most_common()) + " "
        "(`down`: that copy was the one killed). "
        f"{t.compared:,} cases were read from both copies of each service — intake's case, "
        "routing's assignment, follow-up's history (its events) — and the listings:",
        "",
        "| listing | copy a | copy b |",
        "| --- | --- | --- |",
        *(f"| {k} | {a} | {b} |" for k, (a, b) in t.listings.items()),
        "",
        f"Disagreements: {len(t.disagreements)}"
        + (": " + "; ".join(t.disagreements[:10]) if t.disagreements else "."),
        "",
        "## The follow-up clock, twice",
        "",
        f"Both follow-up copies run the clock (every {0.2:g} s here). The drill clock moved "
        f"{p.clock_hours:g} h on: every case's 1-day handling plan was past at once for both. "
        f"In {_s(r.clock_in)} {r.clock_overdue:,} of {r.clock_cases:,} handling plans were "
        "recorded overdue in the cases' histories; alarms recorded by kind: "
        + ", ".join(f"{n:,}× {k}" for k, n in sorted(r.clock_events.items()))
        + f"; recorded more than once: **{r.clock_twice}**. The overdue ledger from copy a "
        f"lists {r.clock_ledgers[0]}, from copy b {r.clock_ledgers[1]}. Each case's own "
        "events decide what fires: the copy that saves second loses on the case's version, "
        "loads it again and finds nothing left to fire.",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- the command


def database(settings: Settings) -> str:
    """The database the run may clear: one named `*_twins` (`make up`'s is never touched)."""
    name = settings.pg_dbname
    return name if name.endswith("_twins") else f"{name}_twins"


def main(argv: list[str] | None = None) -> int:
    from bench.host import machine_facts
    from shared.kafka_access import deprovision, provision
    from shared.settings import run_dir
    from shared.store import connect

    p = argparse.ArgumentParser(
        prog="python -m bench.twins",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Plan()
    p.add_argument("--rate", type=float, default=d.rate, help="registrations/s (20)")
    p.add_argument("--before", type=int, default=d.before, help="answered before the kill")
    p.add_argument("--during", type=int, default=d.during, help="answered while killed")
    p.add_argument("--after", type=int, default=d.after, help="answered once back")
    p.add_argument(
        "--port-base",
        type=int,
        default=8200,
        help="copy a on +1..3 (intake, routing, follow-up), copy b on +4..6 (8200)",
    )
    p.add_argument("--logs", type=Path, default=None, help="the six logs (var/twins)")
    p.add_argument("--write-docs", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    a = p.parse_args(argv)
    if not 1 <= a.rate <= 200:
        p.error("--rate must be between 1 and 200")
    plan = Plan(rate=a.rate, before=a.before, during=a.during, after=a.after)
    base = Settings.load()
    settings = base.model_copy(
        update={
            "pg_dbname": database(base),
            "topic_prefix": f"twins-{uuid4().hex[:8]}",
            "intake_port": a.port_base + 1,
            "routing_port": a.port_base + 2,
            "followup_port": a.port_base + 3,
        }
    )
    logs = a.logs or run_dir() / "twins"
    say(
        f"database {settings.pg_dbname} (its schemas cleared), topics {settings.topic_prefix}.*, "
        f"ports {a.port_base + 1}-{a.port_base + 6}, logs in {logs}"
    )
    with connect(settings) as conn:
        for schema in SERVICES:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    for old in logs.glob("*.log"):
        old.unlink()
    with contextlib.suppress(FileNotFoundError):
        (logs / "clock").unlink()
    provision(settings, users=False)
    began = datetime.now(UTC)
    try:
        six = Six(settings, a.port_base + 3, logs)
        result = asyncio.run(scenario(six, plan))
    finally:
        deprovision(settings)
    rows = verdicts(result)
    for name, text, passed in rows:
        say(f"{'pass' if passed else 'FAIL'}  {name}: {text}")
    if a.write_docs:
        DOC.write_text(render(result, machine_facts(settings), began, settings), encoding="utf-8")
        say(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(row[2] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
