"""The bench's results as a table on the terminal and as docs/benchmarks.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from bench.common import PAYLOAD_BYTES, RAW_TOPIC, SCRATCH_SCHEMA, Options, fmt
from bench.load import error_text
from shared.settings import SERVICES

TARGET_INTAKE_RPS = 1000.0
TARGET_INTAKE_RATIO = 0.12
"""Issue 17: at least 1,000 registrations/s, and at least 12 % of raw single-row INSERTs."""
TARGET_P99_MS = 250.0
INTAKE_TARGET = f"≥ {TARGET_INTAKE_RPS:,.0f}/s and ≥ {TARGET_INTAKE_RATIO:.0%} of A"
TARGET_PIPELINE_RPS = 300.0
TARGET_RSS_MB = 200.0


@dataclass
class Row:
    measure: str
    result: str
    target: str
    verdict: str  # "pass", "FAIL", "" (no target) or "n/a" (not measured)
    baseline: str


def baseline_row(measure: str, result: str) -> Row:
    """A row that is itself a raw baseline: no target, nothing beside it."""
    return Row(measure, result, "baseline", "", "—")


@dataclass
class Report:
    started: datetime
    facts: dict[str, str]
    opts: Options
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    drains: list[str] = field(default_factory=list)
    seconds: float = 0.0
    routing_topic: str = "onestop.routing.events"


CORES = len(os.sched_getaffinity(0))
LOAD_GENERATOR = "bench"


@dataclass(frozen=True)
class Budget:
    """Where the CPU of one case went in a step, and what that allows: the stack (every
    part but the bench's own client) spends `stack_ms` per case, so the machine's cores
    carry at most `ceiling` cases/s at that cost, whatever is tuned around it. For a step
    paced at a fixed `rate`, what it says is how busy that rate kept the cores: a case costs
    more at a lower rate, fewer cases sharing each round of polling and committing."""

    parts: dict[str, float]
    """Part (a service, postgres, kafka, bench) → ms of CPU per case."""
    busy: float
    """Cores the stack kept busy over the step, on average."""
    rate: float | None = None

    @property
    def stack_ms(self) -> float:
        return sum(v for k, v in self.parts.items() if k != LOAD_GENERATOR)

    @property
    def ceiling(self) -> float:
        return CORES * 1000 / self.stack_ms if self.stack_ms else float("nan")

    def summary(self) -> str:
        if self.rate is not None:
            return f"{self.busy:.2f} of {CORES} cores busy at {fmt(self.rate)} cases/s"
        return f"at most {fmt(self.ceiling)} cases/s at this cost"

    def text(self) -> str:
        stack = " + ".join(
            f"{k} {v:.2f}" for k, v in self.parts.items() if k != LOAD_GENERATOR and v >= 0.005
        )
        then = (
            f"the stack kept {self.summary()}"
            if self.rate is not None
            else f"{CORES} cores carry {self.summary()}"
        )
        return (
            f"CPU per case: {stack} = {self.stack_ms:.1f} ms (the bench's client "
            f"{self.parts.get(LOAD_GENERATOR, 0.0):.2f} ms more), so {then}"
        )


def budget(step: dict[str, Any] | None, cases_key: str, rate: float | None = None) -> Budget | None:
    """The CPU per case of a step: its CPU window over the cases it completed."""
    if not step or "cpu" not in step or not step.get(cases_key):
        return None
    cpu = step["cpu"]
    busy = sum(v for k, v in cpu.cores.items() if k != LOAD_GENERATOR)
    return Budget(cpu.per_case_ms(step[cases_key]), busy, rate)


def budget_note(found: Budget | None) -> str:
    return f"; {found.text()}" if found else ""


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "FAIL")


def build_rows(r: Report) -> list[Row]:
    pg, kf = r.results.get("pg"), r.results.get("kafka")
    intake, lat, pipe, mem = (r.results.get(k) for k in ("intake", "latency", "pipeline", "memory"))
    pg_tps = pg["tps"] if pg else float("nan")
    single_tps = pg["single"]["tps"] if pg else float("nan")
    pg_text = f"PostgreSQL raw {fmt(pg_tps)} INSERT tx/s" if pg else "PostgreSQL raw: not measured"
    rows = []
    if pg:
        rows.append(
            baseline_row(
                f"A. PostgreSQL raw: single-row INSERT, autocommit, {pg['clients']} clients",
                f"{fmt(pg_tps)} tx/s (avg {fmt(pg['latency_ms'], 1)} ms, {pg['failed']} failed)",
            )
        )
        rows.append(
            baseline_row(
                "A. PostgreSQL raw: the same, 1 client (one commit at a time)",
                f"{fmt(single_tps)} tx/s (avg {fmt(pg['single']['latency_ms'], 2)} ms)",
            )
        )
    else:
        rows.append(Row("A. PostgreSQL raw INSERTs", "not measured", "baseline", "n/a", "—"))
    if kf:
        rows.append(
            baseline_row(
                f"B. Kafka raw: produce {kf['records']:,} × {kf['bytes']} B, acks=all",
                f"{fmt(kf['produce_rps'])} records/s",
            )
        )
        rows.append(
            baseline_row(
                f"B. Kafka raw: consume the same {kf['consumed']:,} records",
                f"{fmt(kf['consume_rps'])} records/s",
            )
        )
        hop = kf["hop"]
        rows.append(
            baseline_row(
                f"B. Kafka raw: one produce → consume hop at {fmt(r.opts.hop_rate)}/s",
                f"p50 {fmt(hop['p50'], 1)} / p99 {fmt(hop['p99'], 1)} ms",
            )
        )
    else:
        rows.append(Row("B. Kafka raw produce / consume", "not measured", "baseline", "n/a", "—"))
    if intake:
        ratio = intake["rps"] / pg_tps if pg else float("nan")
        errors = sum(intake["errors"].values())
        rows.append(
            Row(
                f"1. Intake registrations/s, {intake['clients']} clients, "
                f"{intake['seconds']:.0f} s",
                f"{fmt(intake['rps'])}/s = {fmt(ratio * 100, 1)}% of A ({intake['ok']:,} × 201, "
                f"{errors} errors)",
                INTAKE_TARGET,
                mark(
                    ratio >= TARGET_INTAKE_RATIO and intake["rps"] >= TARGET_INTAKE_RPS
                    if pg
                    else None
                ),
                pg_text + budget_note(budget(intake, "ok")),
            )
        )
    else:
        rows.append(
            Row(
                "1. Intake registrations/s",
                "not measured",
                INTAKE_TARGET,
                "n/a",
                pg_text,
            )
        )
    hop_text = (
        f"the path is 2 Kafka hops (raw: p50 {fmt(kf['hop']['p50'], 1)} / p99 "
        f"{fmt(kf['hop']['p99'], 1)} ms each) and ~2 commits (raw, 1 client: "
        f"{fmt(pg['single']['latency_ms'], 2)} ms each)"
        if kf and pg
        else "—"
    )
    if lat:
        lt = lat["latency"]
        missing = f", {lat['missing']} never arrived" if lat["missing"] else ""
        rows.append(
            Row(
                f"2. Register → assigned at {fmt(lat['rate'])} cases/s for "
                f"{r.opts.latency_seconds:.0f} s",
                f"p50 {fmt(lt['p50'])} / p95 {fmt(lt['p95'])} / p99 {fmt(lt['p99'])} / max "
                f"{fmt(lt['max'])} ms ({lat['arrived']:,}/{lat['ok']:,} arrived{missing})",
                f"p99 ≤ {TARGET_P99_MS:.0f} ms",
                mark(lt["p99"] <= TARGET_P99_MS and lat["missing"] == 0 and lat["ok"] > 0),
                hop_text,
            )
        )
    else:
        rows.append(
            Row(
                "2. Register → assigned latency",
                "not measured",
                f"p99 ≤ {TARGET_P99_MS:.0f} ms",
                "n/a",
                hop_text,
            )
        )
    raw_pipe = (
        f"A {fmt(pg_tps)} tx/s at {pg['clients']} clients, {fmt(single_tps)} tx/s at 1 client; "
        f"follow-up commits 4 records per case one at a time (≤ {fmt(single_tps / 4)} "
        f"cases/s at raw speed); Kafka {fmt(kf['produce_rps'])} records/s produced "
        "(a case is 4 records)"
        if pg and kf
        else "—"
    )
    if pipe:
        partial = (
            ""
            if pipe["complete"]
            else (
                f"; PARTIAL: {pipe['scheduled']:,}/{pipe['ok']:,} done after "
                f"{pipe['seconds']:.0f} s"
            )
        )
        rows.append(
            Row(
                f"3. Whole pipeline: {pipe['planned']:,} cases, register → follow-up scheduled "
                "the assignment deadlines",
                f"{fmt(pipe['rps'])} cases/s ({pipe['scheduled']:,} cases in "
                f"{pipe['seconds']:.1f} s{partial})",
                f"≥ {TARGET_PIPELINE_RPS:.0f} cases/s",
                mark(pipe["rps"] >= TARGET_PIPELINE_RPS and pipe["complete"]),
                raw_pipe + budget_note(budget(pipe, "scheduled")),
            )
        )
    else:
        rows.append(
            Row(
                "3. Whole-pipeline throughput",
                "not measured",
                f"≥ {TARGET_PIPELINE_RPS:.0f} cases/s",
                "n/a",
                raw_pipe,
            )
        )
    for service in SERVICES:
        m = (mem or {}).get(service)
        if m is None or "VmRSS" not in m:
            rows.append(
                Row(
                    f"4. Resident memory of {service}",
                    "not running / not measured",
                    f"< {TARGET_RSS_MB:.0f} MB",
                    "n/a",
                    "—",
                )
            )
            continue
        rows.append(
            Row(
                f"4. Resident memory of {service} (pid {int(m['pid'])})",
                f"{fmt(m['VmRSS'])} MB now, peak {fmt(m.get('VmHWM', float('nan')))} MB",
                f"< {TARGET_RSS_MB:.0f} MB",
                mark(max(m["VmRSS"], m.get("VmHWM", 0)) < TARGET_RSS_MB),
                "—",
            )
        )
    return rows


def details(r: Report) -> list[str]:
    out: list[str] = []
    pg, kf = r.results.get("pg"), r.results.get("kafka")
    intake, lat, pipe = (r.results.get(k) for k in ("intake", "latency", "pipeline"))
    if pg:
        out.append(
            f"**A. PostgreSQL raw** — {pg['method']}; {pg.get('transactions') or 0:,} "
            f"transactions, {pg.get('rows', 0):,} rows written into the scratch table "
            f"`{SCRATCH_SCHEMA}.raw_insert` (dropped afterwards). {pg['cpu'].line()}."
        )
    if kf:
        out.append(
            f"**B. Kafka raw** — topic `{RAW_TOPIC}` ({kf['partitions']} partitions, "
            f"deleted afterwards), producer settings as the services' relays (acks=all, "
            f"linger 2 ms); {kf['produce_failed']} sends failed; consumed "
            f"{kf['consumed']:,}/{kf['records']:,}. Hop: {kf['hop_seen']}/{kf['hop_sent']} "
            f"arrived, p50 {fmt(kf['hop']['p50'], 1)} / p95 {fmt(kf['hop']['p95'], 1)} / "
            f"p99 {fmt(kf['hop']['p99'], 1)} / max {fmt(kf['hop']['max'], 1)} ms. "
            f"{kf['cpu'].line()} (throughput part: the client, kafka-python, is pure Python, "
            "so this is its ceiling on this machine — the services use the same client)."
        )
    if intake:
        h = intake["http"]
        out.append(
            f"**1. Intake** — after {intake.get('warmup_sent', 0):,} warm-up requests, "
            f"{intake['sent']:,} requests, {intake['ok']:,} answered 201; "
            f"errors: {error_text(intake['errors'])}. Response time p50 {fmt(h['p50'])} / "
            f"p99 {fmt(h['p99'])} / max {fmt(h['max'])} ms. The bench client spent "
            f"{intake['bench_cpu_ms_per_request']:.2f} ms CPU per request. "
            f"{intake['cpu'].line()}.{budget_sentence(budget(intake, 'ok'))}"
        )
    if lat:
        q = lat["queued"]
        out.append(
            f"**2. Latency** — {lat['sent']:,} registrations due at {fmt(lat['rate'])}/s "
            f"(they actually went out at {fmt(lat['dispatch_rate'], 1)}/s; waiting for a free "
            f"connection p50 {fmt(q['p50'])} / p99 {fmt(q['p99'])} ms), {lat['ok']:,} answered "
            f"201; errors: {error_text(lat['errors'])}; {lat['arrived']:,} assignments seen, "
            f"{lat['missing']} missing after a {r.opts.latency_grace:.0f} s grace. "
            f"Due → 201 p50 {fmt(lat['http']['p50'])} / p99 {fmt(lat['http']['p99'])} ms. "
            f"Per stage: {stage_text(lat['stages'])}. {lat['cpu'].line()}."
            + budget_sentence(budget(lat, "ok", lat["rate"]))
            + (f" Watcher error: {lat['watcher_error']}." if lat["watcher_error"] else "")
        )
    if pipe:
        last = pipe["last"]
        out.append(
            f"**3. Pipeline** — {pipe['ok']:,}/{pipe['sent']:,} registered (errors: "
            f"{error_text(pipe['errors'])}) in {pipe['register_seconds']:.1f} s "
            f"({fmt(pipe['register_rps'])}/s). Seconds after the first send at which the last "
            f"case was on the intake topic: {fmt(last['published'], 1)} "
            f"({pipe['published']:,} cases); assigned: {fmt(last['assigned'], 1)} "
            f"({pipe['assigned']:,}); had its assignment deadlines scheduled: "
            f"{fmt(last['scheduled'], 1)} ({pipe['scheduled']:,})"
            + (
                f" — {pipe['missing']:,} still missing at the {pipe['timeout']:.0f} s timeout"
                if pipe["missing"]
                else ""
            )
            + f". Sent → 201 p50 {fmt(pipe['http']['p50'])} / p99 {fmt(pipe['http']['p99'])} ms. "
            f"Per stage: {stage_text(pipe['stages'])}. {pipe['cpu'].line()}."
            + budget_sentence(budget(pipe, "scheduled"))
            + (f" Watcher error: {pipe['watcher_error']}." if pipe["watcher_error"] else "")
        )
    idle = r.results.get("idle")
    if idle:
        out.append(f"**Idle** — before any load, with nothing to do: {idle['cpu'].line()}.")
    if r.drains:
        out.append(
            "**Between steps** — waiting for routing and follow-up to catch up (consumer-group "
            "lag 0, no topic growing): " + "; ".join(r.drains) + "."
        )
    for step, error in r.failures.items():
        out.append(f"**{step} failed** — `{error}`")
    return out


def budget_sentence(found: Budget | None) -> str:
    return f" {found.text()}." if found else ""


def stage_text(stages: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{name} p50 {fmt(v['p50'])} / p99 {fmt(v['p99'])} ms" for name, v in stages.items()
    )


# --- the chart: where a case's CPU goes -------------------------------------------------------

CHART = "benchmarks-cpu.svg"
PART_COLOURS = {
    "intake": "#1f6feb",
    "routing": "#2da44e",
    "followup": "#8250df",
    "postgres": "#bf8700",
    "kafka": "#1b7c83",
    LOAD_GENERATOR: "#b0b8c1",
}


def cpu_chart(r: Report) -> str | None:
    """Stacked bars of each step's CPU per case by part, with the most a case may cost for a
    throughput target to be possible on this machine's cores (a dashed red line)."""
    steps = [
        (
            "1. intake, as fast as it answers",
            budget(r.results.get("intake"), "ok"),
            CORES * 1000 / TARGET_INTAKE_RPS,
            f"{TARGET_INTAKE_RPS:,.0f} registrations/s",
        ),
        (
            f"2. paced at {fmt(r.opts.latency_rate)} cases/s",
            budget(r.results.get("latency"), "ok", r.opts.latency_rate),
            None,
            "",
        ),
        (
            "3. whole pipeline",
            budget(r.results.get("pipeline"), "scheduled"),
            CORES * 1000 / TARGET_PIPELINE_RPS,
            f"{TARGET_PIPELINE_RPS:,.0f} cases/s",
        ),
    ]
    shown = [(name, b, limit, goal) for name, b, limit, goal in steps if b is not None]
    if not shown:
        return None
    width, label_w, plot_w, row_h, top = 980, 230, 560, 58, 78
    scale = max(max(sum(b.parts.values()), limit or 0) for _, b, limit, _ in shown) * 1.08
    height = top + row_h * len(shown) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">CPU per case, ms, by part '
        f"(make bench, {r.started:%Y-%m-%d}, {CORES} cores, whole stack on one machine)</text>",
    ]
    x = 10
    for part, colour in PART_COLOURS.items():
        name = "bench's client" if part == LOAD_GENERATOR else part
        out.append(
            f'<rect x="{x}" y="36" width="14" height="10" fill="{colour}"/>'
            f'<text x="{x + 19}" y="45">{escape(name)}</text>'
        )
        x += 30 + 7 * len(name)
    out.append(
        f'<line x1="{x}" y1="41" x2="{x + 22}" y2="41" stroke="#c62828" stroke-width="2" '
        f'stroke-dasharray="5,3"/><text x="{x + 28}" y="45" fill="#c62828">the most a case '
        "may cost for the target to fit</text>"
    )
    y = top
    for name, found, limit, goal in shown:
        out.append(f'<text x="10" y="{y + 20}" font-weight="bold">{escape(name)}</text>')
        out.append(f'<text x="10" y="{y + 36}" fill="#555">{escape(found.summary())}</text>')
        bx = float(label_w)
        order = [*PART_COLOURS, *(p for p in found.parts if p not in PART_COLOURS)]
        for part, ms in ((p, found.parts[p]) for p in order if p in found.parts):
            w = plot_w * ms / scale
            if w < 0.5:
                continue
            colour = PART_COLOURS.get(part, "#777")
            out.append(
                f'<rect x="{bx:.1f}" y="{y + 6}" width="{w:.1f}" height="26" fill="{colour}">'
                f"<title>{escape(part)}: {ms:.2f} ms</title></rect>"
            )
            if w > 28:
                out.append(
                    f'<text x="{bx + w / 2:.1f}" y="{y + 23}" fill="white" '
                    f'text-anchor="middle">{ms:.1f}</text>'
                )
            bx += w
        out.append(f'<text x="{bx + 6:.1f}" y="{y + 23}">{sum(found.parts.values()):.1f} ms</text>')
        if limit is not None:
            lx = label_w + plot_w * limit / scale
            out.append(
                f'<line x1="{lx:.1f}" y1="{y}" x2="{lx:.1f}" y2="{y + 40}" stroke="#c62828" '
                f'stroke-width="2" stroke-dasharray="5,3"/><text x="{lx + 4:.1f}" y="{y + 50}" '
                f'fill="#c62828" font-size="11">{escape(goal)}: ≤ {limit:.1f} ms</text>'
            )
        y += row_h
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(rows: list[Row]) -> str:
    head = "| Measure | Result | Target | | Raw baseline beside it |\n|---|---|---|---|---|\n"
    symbol = {"pass": "✅ pass", "FAIL": "❌ FAIL", "n/a": "⚠️ n/a", "": ""}
    return head + "\n".join(
        f"| {x.measure} | {x.result} | {x.target} | {symbol[x.verdict]} | {x.baseline} |"
        for x in rows
    )


def print_table(rows: list[Row]) -> None:
    w = max(len(x.measure) for x in rows)
    print()
    for x in rows:
        verdict = x.verdict or "-"
        print(f"  {x.measure:<{w}}  {x.result}  [{x.target}: {verdict}]")
        if x.baseline != "—":
            print(f"  {'':<{w}}    beside: {x.baseline}")
    print()


def cpu_section(r: Report) -> str:
    if cpu_chart(r) is None:
        return ""
    return f"""
### Where a case's CPU goes

Each step's CPU (every process's, over the step's window, as under Details) divided by the
cases it completed. The throughput targets need a case to cost at most {CORES} cores ÷ the
target rate — the dashed lines; the parts' shares say where any saving has to come from.

![CPU per case by part, per step]({CHART})
"""


def render_doc(r: Report, rows: list[Row]) -> str:
    when = r.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    local = r.started.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    local = "" if local.endswith(("UTC", "GMT")) else f" ({local})"
    o = r.opts
    machine = "\n".join(f"| {k} | {v} |" for k, v in r.facts.items())
    detail = "\n\n".join(f"- {line}" for line in details(r))
    return f"""# Benchmarks

_Written by `make bench` (bench/pipeline.py) on {when}{local}; the run
took {r.seconds:.0f} s, waits between steps included. Do not edit by hand: run `make bench`
again._

How the same services fare with a million stored cases against ten thousand (memory, start
to ready, a long history, the ledger, inboxes and listings): [a large store](benchmarks-large.md)
(`make bench-large`).

## What is measured, and how

`make bench` starts what is missing (`make up`), then measures, in one run and in this order:

- **A. PostgreSQL raw** — single-row `INSERT`s (a UUID and a ~{PAYLOAD_BYTES}-byte `jsonb`),
  autocommit, one row per transaction, from {o.clients} concurrent clients for {o.pg_seconds:.0f} s,
  into a scratch table in a scratch schema `{SCRATCH_SCHEMA}` of the services' own database
  (same server, same `fsync`/`synchronous_commit` settings). pgbench when installed, psycopg
  threads otherwise. This is the ceiling for anything that commits once per request.
- **B. Kafka raw** — plain kafka-python: {o.kafka_records:,} records of {PAYLOAD_BYTES} bytes
  produced with `acks=all` and flushed, then read back by a consumer; plus
  {int(o.hop_rate * o.hop_seconds)} records paced at {o.hop_rate:.0f}/s to time one produce →
  consume hop (the pipeline makes two).
- **1. Intake registrations/s** — {o.clients} clients on {o.clients} keep-alive connections
  register cases (`POST /v1/cases`, ~700-byte bodies, every one a different case of a
  petitioner who never came before: each run draws its own phone numbers) as fast as
  intake answers, for {o.intake_seconds:.0f} s, right after {o.intake_warmup:.0f} s of the same
  load that is not counted (the services' caches and pools and the broker's JIT warm up).
  Only 201s count. Compared with A: a registration is at least one such transaction.
- **2. Register → assigned latency** — registrations sent open-loop on a fixed schedule of
  {o.latency_rate:.0f}/s for {o.latency_seconds:.0f} s (a slow answer does not delay the next
  send). A consumer reads `{r.routing_topic}` from its end (positioned
  before the first send) and matches case ids; latency runs from when a registration was due
  to when its `case.assigned` record reached the bench's consumer.
- **3. Whole pipeline** — {o.pipeline_cases:,} cases registered as fast as {o.clients} clients
  can; the run ends when follow-up has published, for every one of them, the
  `deadlines.scheduled` caused by the assignment (its deadlines include `handling-plan`).
  cases/s = cases / (last such event − first send). Times out after
  {o.pipeline_timeout:.0f} s and then reports the partial figure.
- **4. Memory** — `VmRSS` and peak `VmHWM` of each service process (`/proc/<pid>/status`,
  pids from `var/run/<service>.pid`), read after all the runs.

Between steps the bench waits (at most {o.drain_timeout:.0f} s) until routing's and follow-up's
consumer groups have no lag, so one step's backlog does not slow the next; how long that took
is under Details. All traffic is to 127.0.0.1.

**The clients run on the same {r.facts.get("CPUs (nproc)", "?")}-CPU machine as PostgreSQL,
Kafka and the three services, and compete with them for CPU**: every figure is for the whole
stack on one small box, load generator included. The "cores used" lines below say where the
CPU went during each step. The HTTP load comes from one asyncio event loop (one thread)
driving {o.clients} keep-alive connections of the bench's own lean HTTP/1.1 client
(`bench/wire.py`): it writes a prepared request and reads one answer, about 0.2 ms of
CPU per request here against ≈2 ms for `httpx.AsyncClient`, which the runs before
2026-11-21 used (`python -m bench.wire` measures both side by side). What the client
does not spend is left to the stack, so figures from before and after that change are not
comparable one to one. The open-loop schedule of step 2 stays exact.
The client's measured CPU per request is given under 1.

## Machine

| | |
|---|---|
{machine}

## Results

{table(rows)}
{cpu_section(r)}
## Details

{detail}
"""
