"""`make bench-large`: the same figures against 10,000 and 1,000,000 stored cases, in one run.

On a database of its own (whose name must say `bench`: its three schemas are dropped first)
and a Kafka topic prefix of its own, this:

1. makes ~300 prototype cases with the three services' applications in process
   (bench/prototypes.py) — most closed weeks ago, a small share still open;
2. seeds the store with clones of them up to 10,000 cases (bench/seed.py), then starts the
   services with the project's own script (deploy/scripts/services.sh) on ports of its own
   and, through their APIs, makes one genuine case with ~200 history events;
3. measures, at that size: each service's start to ready (process launch → `/health/ready`
   200, several restarts), its resident memory after start and after a fixed workload (new
   registrations through the whole pipeline, then the queries), the p50/p99 of a 200-event
   case's history, the supervision office's ledger (overdue, due soon, a department's),
   a department's inbox and intake's listing — and, beside them, raw PostgreSQL on the same
   server (a primary-key SELECT and an indexed range query on the seeded tables);
4. stops the services, grows the store to 1,000,000 cases and measures the same again.

It prints as it goes; with --write-docs it rewrites docs/benchmarks-large.md and its chart
docs/benchmarks-large.svg. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from bench.common import ROOT, base_url, percentile, say
from bench.host import machine_facts
from bench.prototypes import Prototypes, id_number, phone
from bench.seed import Capture, Seeder, SeedResult, Template, move_positions
from services.followup.ledger import PostgresLedger
from shared.auth import issue_token
from shared.kafka_access import deprovision, provision
from shared.settings import SERVICES, ServiceName, Settings, run_dir
from shared.store import connect, conninfo

DOC = ROOT / "docs" / "benchmarks-large.md"
CHART = ROOT / "docs" / "benchmarks-large.svg"
TERRITORY = ROOT / "deploy" / "territories" / "ninghe-qiaocheng.yaml"
SERVICES_SH = ROOT / "deploy" / "scripts" / "services.sh"


@dataclass(frozen=True)
class Options:
    cases: int = 1_000_000
    small: int = 10_000
    prototypes: int = 300
    starts: int = 5
    requests: int = 300
    warmup: int = 20
    workload: int = 200
    history_events: int = 200
    min_free_gb: float = 15.0
    write_docs: bool = False
    measure_kept: bool = False
    history_case: str | None = None


def parse_options(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench.large",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Options()
    p.add_argument("--cases", type=int, default=d.cases, help="the large store (1,000,000)")
    p.add_argument("--small", type=int, default=d.small, help="the small store (10,000)")
    p.add_argument("--prototypes", type=int, default=d.prototypes, help="cases cloned (300)")
    p.add_argument("--starts", type=int, default=d.starts, help="restarts timed per service")
    p.add_argument("--requests", type=int, default=d.requests, help="timed requests per query")
    p.add_argument("--workload", type=int, default=d.workload, help="registrations per size")
    p.add_argument("--history-events", type=int, default=d.history_events)
    p.add_argument(
        "--min-free-gb",
        type=float,
        default=d.min_free_gb,
        help="refuse to grow the store if less disk than this would be left (15)",
    )
    p.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks-large.md")
    p.add_argument(
        "--measure-kept",
        action="store_true",
        help="measure the store an earlier run kept (BENCH_LARGE_KEEP=1) as it is, without "
        "seeding: the figures are printed, the docs left alone",
    )
    p.add_argument(
        "--history-case",
        help="with --measure-kept: the case with the long history (the seeding run printed it)",
    )
    a = p.parse_args(argv)
    if not 50 <= a.prototypes <= 5_000:
        p.error("--prototypes must be between 50 and 5000")
    if not a.prototypes < a.small < a.cases <= 20_000_000:
        p.error("need --prototypes < --small < --cases <= 20,000,000")
    for name in ("starts", "requests", "workload"):
        if not 1 <= getattr(a, name) <= 10_000:
            p.error(f"--{name} must be between 1 and 10000")
    return Options(
        cases=a.cases,
        small=a.small,
        prototypes=a.prototypes,
        starts=a.starts,
        requests=a.requests,
        workload=a.workload,
        history_events=a.history_events,
        min_free_gb=a.min_free_gb,
        write_docs=a.write_docs and not a.measure_kept,
        measure_kept=a.measure_kept,
        history_case=a.history_case,
    )


# --- the stack, through the project's script -----------------------------------------------


def script_env() -> dict[str, str]:
    """The environment the services are started with: this process's, without what only
    the seeding connections may use (PGOPTIONS)."""
    env = dict(os.environ)
    env.pop("PGOPTIONS", None)
    return env


def services(command: str, *names: ServiceName) -> None:
    subprocess.run(
        ["bash", str(SERVICES_SH), command, *names],
        env=script_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def pid_of(service: ServiceName) -> int | None:
    try:
        pid = int((run_dir() / "run" / f"{service}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def memory_of(service: ServiceName) -> dict[str, float]:
    """VmRSS and VmHWM (MB) of the service's process."""
    pid = pid_of(service)
    found: dict[str, float] = {}
    if pid is None:
        return found
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0]) * 1024 / 1e6
    return found


@dataclass
class Client:
    """HTTP to the services with a token per role, on keep-alive connections."""

    settings: Settings
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def headers(self, role: str, department: str | None = None) -> dict[str, str]:
        key = (role, department)
        if key not in self._tokens:
            user = f"bench-{role}" + (f"-{department}" if department else "")
            self._tokens[key] = issue_token(self.settings, user, role, department)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def url(self, service: ServiceName, path: str) -> str:
        return base_url(self.settings, service) + path

    def get(
        self, service: ServiceName, path: str, role: str, department: str | None = None
    ) -> httpx.Response:
        return self.http.get(self.url(service, path), headers=self.headers(role, department))

    def post(
        self,
        service: ServiceName,
        path: str,
        body: dict[str, Any],
        role: str,
        department: str | None = None,
    ) -> httpx.Response:
        answer = self.http.post(
            self.url(service, path), json=body, headers=self.headers(role, department)
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"POST {service} {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    def wait(
        self, what: str, check: Callable[[], bool], timeout: float = 120.0, every: float = 0.1
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)


def start_to_ready(client: Client, service: ServiceName) -> float:
    """Seconds from launching the service (services.sh start) to its first 200 on
    /health/ready, polled every 20 ms."""
    url = client.url(service, "/health/ready")
    started = time.monotonic()
    launcher = subprocess.Popen(
        ["bash", str(SERVICES_SH), "start", service],
        env=script_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if client.http.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if launcher.poll() not in (None, 0):
                raise RuntimeError(f"{service} did not start (services.sh: {launcher.returncode})")
            if time.monotonic() - started > 180:
                raise RuntimeError(f"{service} not ready within 180 s")
            time.sleep(0.02)
    finally:
        launcher.wait()


# --- what is measured ---------------------------------------------------------------------


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p99": percentile(values_ms, 99),
        "max": max(values_ms) if values_ms else float("nan"),
    }


@dataclass
class Query:
    name: str
    service: ServiceName
    path: str
    role: str
    department: str | None = None


@dataclass
class Phase:
    """Everything measured against one size of the store."""

    cases: int
    seed: SeedResult | None = None
    store_bytes: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    starts: dict[str, list[float]] = field(default_factory=dict)
    rss_after_start: dict[str, list[float]] = field(default_factory=dict)
    memory_after_workload: dict[str, dict[str, float]] = field(default_factory=dict)
    queries: dict[str, dict[str, float]] = field(default_factory=dict)
    totals: dict[str, str] = field(default_factory=dict)
    """What each listing says it counts: "1,834", or "10,000+" past the count's cap."""
    raw: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    workload_seconds: float = 0.0
    load: list[tuple[float, float, float]] = field(default_factory=list)
    quiet_after: float = 0.0
    """Seconds waited for a quiet machine before the timed queries (`LargeBench.quiet`)."""


@dataclass
class Run:
    options: Options
    started: datetime
    facts: dict[str, str]
    prototypes_seconds: float = 0.0
    prototype_kinds: dict[str, int] = field(default_factory=dict)
    capture_seconds: float = 0.0
    history_case: str = ""
    history_events: int = 0
    history_seconds: float = 0.0
    department: str = ""
    phases: list[Phase] = field(default_factory=list)
    seconds: float = 0.0


class LargeBench:
    def __init__(self, settings: Settings, options: Options) -> None:
        self.settings = settings
        self.options = options
        self.client = Client(settings)
        self.templates: list[Template] = []
        self.seeder: Seeder | None = None
        self.run = Run(options, datetime.now(UTC), facts={})
        self.registered = 0
        """Registrations made through the API so far (each a petitioner of its own)."""

    # --- the store --------------------------------------------------------------------

    def fresh_store(self) -> None:
        if "bench" not in self.settings.pg_dbname:
            raise SystemExit(
                f"bench-large empties its database: ONESTOP_PG_DBNAME must name a bench "
                f"database (one with 'bench' in its name), not {self.settings.pg_dbname!r}"
            )
        with connect(self.settings) as conn:
            for schema in SERVICES:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        # the checkpoints of the store just dropped: a new store signs from sequence 1
        shutil.rmtree(self.settings.folder(self.settings.checkpoint_dir, "checkpoints"), True)

    def make_prototypes(self) -> None:
        say(f"making {self.options.prototypes} prototype cases in process")
        started = time.monotonic()
        with seeding_connections():
            made = Prototypes(self.settings, count=self.options.prototypes).make(TERRITORY)
        self.run.prototypes_seconds = time.monotonic() - started
        kinds: dict[str, int] = {}
        for p in made:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        self.run.prototype_kinds = kinds
        say(f"made {len(made)} prototypes in {self.run.prototypes_seconds:.0f} s: {kinds}")
        started = time.monotonic()
        self.templates = Capture(self.settings).templates(made)
        self.run.capture_seconds = time.monotonic() - started
        self.seeder = Seeder(self.settings, self.templates)
        self.run.department = self.busiest_department()

    def busiest_department(self) -> str:
        with connect(self.settings) as conn:
            row = conn.execute(
                "SELECT department FROM routing.inbox_parties GROUP BY 1 ORDER BY count(*) DESC "
                "LIMIT 1"
            ).fetchone()
        return str(row[0]) if row else "ninghe-hrss"

    def stored_cases(self) -> int:
        with connect(self.settings) as conn:
            row = conn.execute("SELECT count(*) FROM intake.case_index").fetchone()
        return int(row[0]) if row else 0

    def grow(self, to: int) -> SeedResult:
        assert self.seeder is not None
        more = to - self.stored_cases()
        self.check_disk(more)
        say(f"seeding {more:,} cases (to {to:,})")
        with seeding_connections():
            result = self.seeder.seed(more, say=say)
        say(
            f"seeded {result.cases:,} cases, {result.rows:,} rows in {result.seconds:,.0f} s "
            f"({result.rows_per_second:,.0f} rows/s)"
        )
        return result

    def check_disk(self, more: int) -> None:
        """Refuse to fill the disk the database server shares with everyone else."""
        per_case = self.store_bytes() / max(self.stored_cases(), 1)
        need = per_case * more * 1.1
        where = Path(os.environ.get("BENCH_LARGE_DATA_DIR", "/"))
        free = shutil.disk_usage(where).free
        left = (free - need) / 1e9
        say(
            f"the store takes ~{per_case / 1e3:,.1f} kB a case: {more:,} more need "
            f"~{need / 1e9:,.1f} GB of {free / 1e9:,.1f} GB free on {where}"
        )
        if left < self.options.min_free_gb:
            raise SystemExit(
                f"growing the store would leave ~{left:,.1f} GB free on {where}, less than "
                f"--min-free-gb {self.options.min_free_gb:g}: not seeding"
            )

    def store_bytes(self) -> int:
        with connect(self.settings) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    def table_sizes(self) -> dict[str, int]:
        with connect(self.settings) as conn:
            rows = conn.execute(
                "SELECT n.nspname || '.' || c.relname, c.reltuples::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                "AND n.nspname = ANY(%s) AND c.relname = ANY(%s) ORDER BY 1",
                (
                    list(SERVICES),
                    [
                        "intake_events",
                        "routing_events",
                        "followup_events",
                        "case_index",
                        "inbox_cases",
                        "inbox_parties",
                        "ledger_cases",
                        "ledger_deadlines",
                        "ledger_facts",
                        "ledger_moments",
                    ],
                ),
            ).fetchall()
        return {name: int(n) for name, n in rows}

    SETTLED_TABLES = (
        *(f"{schema}.{schema}_events" for schema in SERVICES),
        "intake.case_index",
        "routing.inbox_cases",
        "routing.inbox_parties",
        "followup.ledger_cases",
        "followup.ledger_deadlines",
        "followup.ledger_facts",
        "followup.ledger_moments",
        "followup.chain_heads",
    )

    def analyze(self, *tables: str) -> None:
        """The tables as autovacuum leaves them after a while: vacuumed and analysed. Left
        to autovacuum, the vacuum of the freshly seeded tables (tens of gigabytes at a
        million cases) came in the middle of the timed queries and multiplied even the raw
        baselines' p99 by 27–52."""
        with connect(self.settings) as conn:
            for table in tables or self.SETTLED_TABLES:
                conn.execute(f"VACUUM (ANALYZE) {table}")

    # --- a genuine case with a long history ----------------------------------------------

    def long_history(self) -> None:
        """One case through the APIs, from registration to close-out, then visited until
        its history holds `history_events` events (each visit is one)."""
        c = self.client
        started = time.monotonic()
        n = 8_000_000
        answer = c.post(
            "intake",
            "/v1/cases",
            {
                "channel": "visit",
                "petitioner": {
                    "name": "王建国",
                    "id_number": id_number(n),
                    "phone": phone(n),
                    "address": "芦台街道锦绣社区3号楼",
                },
                "subject": "装修公司拖欠工资三个月",
                "description": "2026年8月至10月工资共计1.8万元未发放",
                "category": "labour-wages",
                "legal_class": "claim",
                "location": {"place": "jinxiu"},
                "duplicate_decision": {"action": "new", "reason": "the bench's own case"},
            },
            "clerk",
            "window-1",
        )
        case = str(answer.json()["case_id"])
        self.run.history_case = case
        lead: dict[str, str] = {}

        def assigned() -> bool:
            found = c.get("followup", f"/v1/cases/{case}", "supervisor")
            if found.status_code == 200 and (found.json().get("lead") or {}).get("code"):
                lead["code"] = found.json()["lead"]["code"]
                return True
            return False

        c.wait("the case to be assigned on follow-up", assigned)
        department = lead["code"]
        c.post("routing", f"/v1/cases/{case}/assignment/accept", {}, "handler", department)
        c.post("intake", f"/v1/cases/{case}/acceptance", {"decision": "accept"}, "clerk")
        base = f"/v1/cases/{case}"

        def followup(path: str, body: dict[str, Any], role: str, dept: str | None = None) -> None:
            c.post("followup", base + path, body, role, dept)

        def has_outcome() -> bool:
            return bool(c.get("followup", base, "supervisor").json().get("outcomes"))

        followup("/plan", {"summary": "约谈用工单位，核实工资表"}, "handler", department)
        for i in range(3):
            followup(
                "/progress",
                {"summary": f"第{i + 1}次进展：单位同意分期支付"},
                "handler",
                department,
            )
        followup(
            "/outcome",
            {"form": "opinion", "opinion": "support", "summary": "1.8万元已于本周结清"},
            "handler",
            department,
        )
        c.wait("the outcome", has_outcome)
        followup("/return-visit", {"satisfaction": "satisfied", "notes": "电话回访"}, "clerk")
        followup("/close-out", {}, "supervisor")

        def events() -> int:
            found = c.get("followup", base + "/history", "auditor")
            return len(found.json().get("events", [])) if found.status_code == 200 else 0

        c.wait("the history to settle", lambda: events() >= 12, timeout=60)
        for i in range(max(0, self.options.history_events - events())):
            followup(
                "/visits",
                {"kind": "return-call", "visited_by": "clerk-wang", "summary": f"第{i + 1}次回访"},
                "clerk",
            )
        target = self.options.history_events
        c.wait(f"{target} history events", lambda: events() >= target, timeout=300, every=0.5)
        self.run.history_events = events()
        self.run.history_seconds = time.monotonic() - started
        say(
            f"case {case}: {self.run.history_events} history events through the APIs in "
            f"{self.run.history_seconds:.0f} s"
        )

    # --- one size of the store ---------------------------------------------------------

    def measure(self, phase: Phase) -> None:
        phase.load.append(os.getloadavg())
        phase.store_bytes = self.store_bytes()
        phase.tables = self.table_sizes()
        if not self.run.history_case:  # the three services, not the console: not measured
            services("start", *SERVICES)
            self.long_history()
            services("stop", *SERVICES)
        services("start", *SERVICES)
        for service in SERVICES:
            phase.starts[service] = []
            phase.rss_after_start[service] = []
            for i in range(self.options.starts):
                services("stop", service)
                seconds = start_to_ready(self.client, service)
                time.sleep(1.0)
                phase.starts[service].append(seconds)
                phase.rss_after_start[service].append(memory_of(service).get("VmRSS", 0.0))
                say(f"{phase.cases:,} cases: {service} start {i + 1}: ready in {seconds:.2f} s")
        self.check_usable(phase)
        started = time.monotonic()
        self.workload()
        self.settle_checkpoint()
        phase.quiet_after = self.quiet()
        self.queries(phase, self.query_set())
        phase.workload_seconds = time.monotonic() - started
        for service in SERVICES:
            phase.memory_after_workload[service] = memory_of(service)
        self.raw_baselines(phase)
        self.queries(phase, self.page_set())
        self.gauges(phase)
        phase.load.append(os.getloadavg())
        services("stop")

    def check_usable(self, phase: Phase) -> None:
        """A seeded case reads through every service's API, its history verifies, and the
        listings count what the store holds."""
        c = self.client
        with connect(self.settings) as conn:
            row = conn.execute(
                "SELECT case_id FROM intake.case_index WHERE petitioner_ids <> '{}' "
                "ORDER BY registered_at LIMIT 1"
            ).fetchone()
        assert row is not None
        case = str(row[0])
        intake = c.get("intake", f"/v1/cases/{case}", "clerk")
        routing = c.get("routing", f"/v1/cases/{case}/assignment", "supervisor")
        history = c.get("followup", f"/v1/cases/{case}/history", "auditor")
        verified = history.status_code == 200 and history.json()["integrity"]["verified"]
        name = intake.json()["petitioners"][0]["name"] if intake.status_code == 200 else "?"
        phase.checks.append(
            f"the oldest seeded case {case}: intake {intake.status_code} (petitioner {name}, "
            f"decrypted), routing {routing.status_code}, follow-up history "
            f"{history.status_code} with {len(history.json().get('events', []))} events, "
            f"hash chain {'verified' if verified else 'NOT verified'}"
        )
        totals = {
            "intake: cases listed": ("intake", "/v1/cases?limit=1", "clerk", None),
            "intake: open cases listed": ("intake", "/v1/cases?limit=1&status=open", "clerk", None),
            "follow-up: deadlines running": (
                "followup",
                "/v1/deadlines?state=running&limit=1",
                "supervisor",
                None,
            ),
            "follow-up: deadlines overdue": (
                "followup",
                "/v1/deadlines?state=overdue&limit=1",
                "supervisor",
                None,
            ),
            f"routing: {self.run.department}'s inbox": (
                "routing",
                f"/v1/departments/{self.run.department}/inbox?limit=1",
                "supervisor",
                None,
            ),
        }
        for label, (service, path, role, dept) in totals.items():
            answer = c.get(service, path, role, dept)  # type: ignore[arg-type]
            body = answer.json() if answer.status_code == 200 else {}
            phase.totals[label] = (
                f"{body['total']:,}{'' if body['total_exact'] else '+'}"
                if body
                else f"HTTP {answer.status_code}"
            )
        say(f"{phase.cases:,} cases: {phase.checks[-1]}; totals {phase.totals}")

    def workload(self) -> None:
        """The same work at every size: registrations through the whole pipeline (each is
        assigned by routing and scheduled by follow-up)."""
        c = self.client
        made: list[str] = []
        for _ in range(self.options.workload):
            self.registered += 1
            n = 8_100_000 + self.registered
            answer = c.post(
                "intake",
                "/v1/cases",
                {
                    "channel": "phone",
                    "petitioner": {"name": "李秀英", "id_number": id_number(n), "phone": phone(n)},
                    "subject": "物业不维修电梯",
                    "description": "小区电梯停运两周，物业迟迟不维修",
                    "category": "property-management",
                    "location": {"place": "yuhe"},
                    "duplicate_decision": {"action": "new", "reason": "bench workload"},
                },
                "clerk",
                "window-1",
            )
            made.append(str(answer.json()["case_id"]))

        def scheduled() -> bool:
            found = c.get("followup", f"/v1/cases/{made[-1]}", "supervisor")
            return found.status_code == 200 and bool(found.json().get("lead"))

        c.wait("the workload's cases to be scheduled", scheduled, timeout=180)

    def page_set(self) -> list[Query]:
        """The reads that are a console page's whole work, timed on their own after the
        others: the month's statistics read every case of the month, and in the same round
        robin they pushed the other queries' pages out of PostgreSQL's buffers."""
        month = date.today().replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        return [
            Query(
                "dossier (200 events, inclusion proof)",
                "followup",
                f"/v1/cases/{self.run.history_case}/dossier",
                "auditor",
            ),
            Query(
                "statistics: this month, by department",
                "followup",
                f"/v1/statistics?from={month.isoformat()}&to={next_month.isoformat()}",
                "leader",
            ),
        ]

    def query_set(self) -> list[Query]:
        d = self.run.department
        return [
            Query(
                "history (200 events)",
                "followup",
                f"/v1/cases/{self.run.history_case}/history",
                "auditor",
            ),
            Query("ledger: overdue", "followup", "/v1/deadlines?state=overdue", "supervisor"),
            Query("ledger: due soon", "followup", "/v1/deadlines?state=due-soon", "supervisor"),
            Query(f"ledger: {d}, running", "followup", "/v1/deadlines?state=running", "handler", d),
            Query(f"inbox: {d}", "routing", f"/v1/departments/{d}/inbox", "handler", d),
            Query(
                f"inbox: {d}, accepted",
                "routing",
                f"/v1/departments/{d}/inbox?state=accepted",
                "handler",
                d,
            ),
            Query("listing: newest", "intake", "/v1/cases", "clerk"),
            Query(
                "listing: open, one category",
                "intake",
                "/v1/cases?status=open&category=labour-wages",
                "clerk",
            ),
        ]

    QUIET_LOAD = 1.0
    QUIET_DIRTY_MB = 64.0
    QUIET_WAIT = 300.0

    def quiet(self) -> float:
        """Seconds waited until the machine's 1-minute load average fell below `QUIET_LOAD`
        and the kernel held less than `QUIET_DIRTY_MB` of written data not yet on disk (at
        most `QUIET_WAIT`), so that no phase is timed while what came just before is still
        being written out — the first checkpoint of a seeded store updates every case's chain
        head, a million rows at the large size, and the raw baselines' p99 went up 4–5×
        while that was flushed; the load average alone fell below 1 while the disk was still
        busy (raw p99 up 6× in two runs of 2026-12-02). The same wait at both sizes; the
        load at the start of the queries is reported with the results."""
        started = time.monotonic()
        while (
            os.getloadavg()[0] >= self.QUIET_LOAD or unwritten_mb() >= self.QUIET_DIRTY_MB
        ) and time.monotonic() - started < self.QUIET_WAIT:
            time.sleep(5.0)
        waited = time.monotonic() - started
        say(
            f"waited {waited:.0f} s for a quiet machine (load {os.getloadavg()[0]:.2f}, "
            f"{unwritten_mb():.0f} MB not yet written)"
        )
        return waited

    def settle_checkpoint(self) -> None:
        """Waits until a checkpoint covers the long history (the dossier proves it)."""
        c = self.client

        def proven() -> bool:
            found = c.get("followup", f"/v1/cases/{self.run.history_case}/dossier", "auditor")
            return found.status_code == 200 and bool(found.json().get("checkpoint"))

        c.wait("a checkpoint covering the long history", proven, timeout=300, every=2.0)
        # the first checkpoint of a seeded store marks every case's head (an UPDATE of each
        # row, once): settled, as autovacuum would leave it, before anything is timed
        self.analyze("followup.chain_heads")

    def queries(self, phase: Phase, queries: list[Query]) -> None:
        """Each query `requests` times, round robin (a spell of load hits them all alike),
        after `warmup` untimed rounds."""
        c = self.client
        timings: dict[str, list[float]] = {q.name: [] for q in queries}
        for i in range(self.options.warmup + self.options.requests):
            for q in queries:
                headers = c.headers(q.role, q.department)
                url = c.url(q.service, q.path)
                started = time.perf_counter()
                answer = c.http.get(url, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"{q.name}: {answer.status_code} {answer.text[:300]}")
                if i >= self.options.warmup:
                    timings[q.name].append(elapsed)
        for name, values in timings.items():
            phase.queries[name] = summary(values)
            say(
                f"{phase.cases:,} cases: {name}: p50 {phase.queries[name]['p50']:.1f} ms, "
                f"p99 {phase.queries[name]['p99']:.1f} ms (n={len(values)})"
            )

    def raw_baselines(self, phase: Phase) -> None:
        """Plain PostgreSQL on the same server and tables, from this process: a SELECT by
        primary key on the ledger's cases, an indexed range on intake's index, and counting
        a department's deadlines."""
        with psycopg.connect(conninfo(self.settings), autocommit=True) as conn:
            ids: list[UUID] = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM followup.ledger_cases ORDER BY random() LIMIT 2000"
                ).fetchall()
            ]
            moments = [
                r[0]
                for r in conn.execute(
                    "SELECT registered_at FROM intake.case_index ORDER BY random() LIMIT 2000"
                ).fetchall()
            ]
            statements: dict[str, tuple[str, Callable[[int], tuple[Any, ...]]]] = {
                "SELECT by primary key (ledger_cases)": (
                    "SELECT * FROM followup.ledger_cases WHERE id = %s",
                    lambda i: (ids[i % len(ids)],),
                ),
                "indexed range, 50 rows (case_index by registered_at)": (
                    "SELECT * FROM intake.case_index WHERE registered_at >= %s "
                    "ORDER BY registered_at LIMIT 50",
                    lambda i: (moments[i % len(moments)],),
                ),
                f"count a department's deadlines ({self.run.department})": (
                    "SELECT count(*) FROM followup.ledger_deadlines WHERE department = %s",
                    lambda i: (self.run.department,),
                ),
            }
            timings: dict[str, list[float]] = {name: [] for name in statements}
            for i in range(self.options.warmup + self.options.requests):
                for name, (statement, params) in statements.items():
                    started = time.perf_counter()
                    conn.execute(statement, params(i)).fetchall()
                    if i >= self.options.warmup:
                        timings[name].append((time.perf_counter() - started) * 1000)
        for name, values in timings.items():
            phase.raw[name] = summary(values)
            say(f"{phase.cases:,} cases: raw {name}: p99 {phase.raw[name]['p99']:.2f} ms")

    GAUGES_ROUNDS = 50

    def gauges(self, phase: Phase) -> None:
        """Follow-up's domain gauges counted as `/metrics` counts them (its ledger's
        `gauges`), from this process: the service itself reads them at most every
        `gauges_seconds` and serves the last reading in between, so timing `/metrics` would
        time that reading, not the count."""
        ledger = PostgresLedger(self.settings)
        try:
            values = []
            for i in range(5 + self.GAUGES_ROUNDS):
                started = time.perf_counter()
                ledger.gauges(datetime.now(UTC))
                if i >= 5:
                    values.append((time.perf_counter() - started) * 1000)
        finally:
            ledger.close()
        name = "gauges: follow-up's counts for /metrics"
        phase.queries[name] = summary(values)
        say(
            f"{phase.cases:,} cases: {name}: p50 {phase.queries[name]['p50']:.1f} ms, "
            f"p99 {phase.queries[name]['p99']:.1f} ms (n={len(values)})"
        )

    # --- the whole run -------------------------------------------------------------------

    def execute(self) -> Run:
        started = time.monotonic()
        self.run.facts = facts(self.settings)
        if self.options.measure_kept:
            return self.measure_kept(started)
        self.fresh_store()
        self.make_prototypes()
        for size in (self.options.small, self.options.cases):
            phase = Phase(size)
            phase.seed = self.grow(size)
            self.analyze()
            self.run.phases.append(phase)
            self.measure(phase)
        self.run.seconds = time.monotonic() - started
        return self.run

    def measure_kept(self, started: float) -> Run:
        """The store as an earlier run left it, measured once (after changing the code)."""
        if not self.options.history_case:
            raise SystemExit("--measure-kept needs --history-case (the seeding run printed it)")
        phase = Phase(self.stored_cases())
        say(f"measuring the kept store of {phase.cases:,} cases")
        self.run.department = self.busiest_department()
        self.run.history_case = self.options.history_case
        self.registered = 1_000_000  # the workload's petitioners are new to this store
        with connect(self.settings) as conn:
            move_positions(self.settings, conn)  # this run's topics are new
        self.analyze()
        self.run.phases.append(phase)
        self.measure(phase)
        self.run.seconds = time.monotonic() - started
        return self.run


@contextmanager
def seeding_connections() -> Iterator[None]:
    """This process's own connections do not wait for each commit to reach the disk while
    seeding (a crash means seeding again); the services never get this."""
    before = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = ((before or "") + " -c synchronous_commit=off").strip()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = before


def unwritten_mb() -> float:
    """What the kernel holds of written files not yet on disk (Dirty + Writeback), in MB."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    kb = {
        line.split(":")[0]: int(line.split()[1])
        for line in meminfo.splitlines()
        if line.startswith(("Dirty:", "Writeback:"))
    }
    return sum(kb.values()) / 1024


def facts(settings: Settings) -> dict[str, str]:
    """The machine, read with the run directory of the servers (Kafka's jars are there)."""
    infra = os.environ.get("BENCH_LARGE_INFRA_DIR")
    before = os.environ.get("ONESTOP_RUN_DIR")
    if infra:
        os.environ["ONESTOP_RUN_DIR"] = infra
    try:
        return machine_facts(settings)
    finally:
        if before is not None:
            os.environ["ONESTOP_RUN_DIR"] = before


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    # stopped (make's Ctrl-C, a kill): the services it started and its topics go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = Settings.load()
    bench = LargeBench(settings, options)
    say(
        f"bench-large on database {settings.pg_dbname}, topics {settings.topic_prefix}.*, "
        f"services on {settings.intake_port}-{settings.followup_port}"
    )
    provision(settings, users=False)
    try:
        run = bench.execute()
    finally:
        try:
            services("stop")
        finally:
            deprovision(settings)
    from bench.large_report import print_summary, write_docs

    print_summary(run)
    if options.write_docs:
        write_docs(run, DOC, CHART)
        say(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
