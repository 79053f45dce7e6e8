"""`make bench-large`'s results: a table on the terminal, docs/benchmarks-large.md and a chart
(docs/benchmarks-large.svg) of each figure at both sizes of the store."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from html import escape
from pathlib import Path

from bench.common import fmt
from bench.large import Phase, Run
from shared.settings import SERVICES

RSS_LIMIT_MB = 200.0
FLAT = 0.10
START_LIMIT_S = 5.0
HISTORY_P99_MS = 20.0
QUERY_P99_MS = 50.0
GROWTH = 1.2
PAGE_P99_MS = 300.0
"""What a page of the console may take (issue 18): the target of the two reads that are a
page's whole work — a dossier, and the statistics, which count every case of the period
(so they grow with it, and no growth target applies)."""


GAUGES_P99_MS = 1000.0
"""What counting follow-up's gauges may take (done at most every `gauges_seconds`, 30 s by
default, for /metrics): it counts every case by status and every running deadline, so it
grows with the store, and no growth target applies."""


def target_of(name: str) -> tuple[float, float | None]:
    """A query's p99 target (ms) and how much it may grow from the small store to the large
    (None: not a target)."""
    if name.startswith("history"):
        return HISTORY_P99_MS, GROWTH
    if name.startswith("dossier"):
        return PAGE_P99_MS, GROWTH
    if name.startswith("statistics"):
        return PAGE_P99_MS, None
    if name.startswith("gauges"):
        return GAUGES_P99_MS, None
    return QUERY_P99_MS, GROWTH


@dataclass
class Figure:
    """One figure at both sizes, with its target and whether it was met."""

    group: str
    name: str
    unit: str
    small: float
    large: float
    target: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.large / self.small if self.small else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def figures(run: Run) -> list[Figure]:
    small, large = run.phases[0], run.phases[-1]
    found: list[Figure] = []
    for service in SERVICES:
        for label, pick in (
            ("RSS after start (median)", lambda p, s=service: median(p.rss_after_start[s])),
            (
                "RSS after the workload",
                lambda p, s=service: p.memory_after_workload[s].get("VmRSS", float("nan")),
            ),
            (
                "peak RSS (VmHWM)",
                lambda p, s=service: p.memory_after_workload[s].get("VmHWM", float("nan")),
            ),
        ):
            a, b = pick(small), pick(large)
            flat = abs(b / a - 1) <= FLAT if a else False
            found.append(
                Figure(
                    "memory",
                    f"{service}: {label}",
                    "MB",
                    a,
                    b,
                    f"±{FLAT:.0%}, < {RSS_LIMIT_MB:.0f} MB",
                    flat and a < RSS_LIMIT_MB and b < RSS_LIMIT_MB,
                )
            )
    for service in SERVICES:
        a, b = median(small.starts[service]), median(large.starts[service])
        found.append(
            Figure(
                "start",
                f"{service}: start to ready (median)",
                "s",
                a,
                b,
                f"< {START_LIMIT_S:.0f} s at {large.cases:,}",
                b < START_LIMIT_S,
                f"slowest of {len(large.starts[service])}: {max(large.starts[service]):.2f} s",
            )
        )
    for name, at_small in small.queries.items():
        at_large = large.queries[name]
        limit, growth = target_of(name)
        a, b = at_small["p99"], at_large["p99"]
        found.append(
            Figure(
                "latency",
                f"{name} (p99)",
                "ms",
                a,
                b,
                f"≤ {limit:.0f} ms" + (f", ≤ {growth}× {small.cases:,}'s" if growth else ""),
                b <= limit and (growth is None or b <= growth * a),
                f"p50 {at_small['p50']:.1f} → {at_large['p50']:.1f} ms, "
                f"n = {int(at_small['n'])} / {int(at_large['n'])}",
            )
        )
    for name, at_small in small.raw.items():
        at_large = large.raw[name]
        found.append(
            Figure(
                "raw",
                f"raw PostgreSQL: {name} (p99)",
                "ms",
                at_small["p99"],
                at_large["p99"],
                "baseline",
                None,
                f"p50 {at_small['p50']:.2f} → {at_large['p50']:.2f} ms",
            )
        )
    return found


def verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**MISSED**")


def print_summary(run: Run) -> None:
    small, large = run.phases[0], run.phases[-1]
    print(f"\n{'figure':<58} {small.cases:>11,} {large.cases:>11,}  ratio  target")
    for f in figures(run):
        print(
            f"{f.name:<58} {fmt(f.small, 2):>9} {f.unit:<2}{fmt(f.large, 2):>9} {f.unit:<2}"
            f" {fmt(f.ratio, 2):>5}  {f.target} {verdict(f.met).strip('*')}"
        )


# --- the chart ------------------------------------------------------------------------------

GROUP_TITLES = {
    "memory": "Resident memory of each service (MB) — target: flat ±10%, < 200 MB",
    "start": "Start to ready (s, median of the restarts) — target: < 5 s",
    "latency": "Query p99 (ms) — targets: history ≤ 20 ms, a dossier and the statistics (a "
    "page each) ≤ 300 ms, follow-up's gauges ≤ 1 s, others ≤ 50 ms; ≤ 1.2× the small but "
    "for the statistics and the gauges",
    "raw": "Raw PostgreSQL beside them, same server and tables (p99, ms)",
}


def chart(run: Run) -> str:
    """Bars of each figure at both sizes, each row on its own scale (the larger of the two),
    a red mark where a target is missed."""
    small, large = run.phases[0], run.phases[-1]
    rows = figures(run)
    width, label_w, bar_w, row_h = 980, 430, 420, 34
    groups = list(GROUP_TITLES)
    height = 70 + len(rows) * row_h + len(groups) * 34
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">OneStop with '
        f"{small.cases:,} and {large.cases:,} stored cases (make bench-large, "
        f"{run.started:%Y-%m-%d})</text>",
        f'<rect x="{label_w}" y="34" width="14" height="10" fill="#9aa5b1"/>'
        f'<text x="{label_w + 20}" y="43">{small.cases:,} cases</text>'
        f'<rect x="{label_w + 130}" y="34" width="14" height="10" fill="#1f6feb"/>'
        f'<text x="{label_w + 150}" y="43">{large.cases:,} cases</text>'
        f'<text x="{label_w + 270}" y="43" fill="#c62828">■ target missed</text>',
    ]
    y = 60
    for group in groups:
        members = [f for f in rows if f.group == group]
        if not members:
            continue
        y += 22
        out.append(f'<text x="10" y="{y}" font-weight="bold">{escape(GROUP_TITLES[group])}</text>')
        y += 8
        for f in members:
            top = max(f.small, f.large, 1e-9)
            for i, (value, colour) in enumerate(((f.small, "#9aa5b1"), (f.large, "#1f6feb"))):
                w = max(1.0, bar_w * value / top) if value == value else 0
                by = y + 4 + i * 13
                out.append(
                    f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="11" fill="{colour}"/>'
                )
                out.append(
                    f'<text x="{label_w + w + 6:.1f}" y="{by + 10}">{fmt(value, 2)} {f.unit}</text>'
                )
            mark = "#c62828" if f.met is False else "#222"
            out.append(
                f'<text x="10" y="{y + 19}" fill="{mark}">{escape(f.name)}'
                f"{' ■' if f.met is False else ''}</text>"
            )
            y += row_h
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- the document ---------------------------------------------------------------------------


def seed_line(phase: Phase) -> str:
    s = phase.seed
    if s is None:
        return "—"
    return (
        f"{s.cases:,} cases, {s.rows:,} rows in {s.seconds:,.0f} s — "
        f"{s.rows_per_second:,.0f} rows/s, {s.cases / s.seconds:,.0f} cases/s"
    )


def render(run: Run, chart_name: str) -> str:
    small, large = run.phases[0], run.phases[-1]
    o = run.options
    rows = figures(run)
    lines = [
        "# Benchmarks: a large store",
        "",
        f"_Written by `make bench-large` (bench/large.py) on {run.started:%Y-%m-%d %H:%M} UTC; the "
        f"run took {run.seconds / 60:,.0f} min. Do not edit by hand: run `make bench-large` "
        "again._",
        "",
        "Does OneStop stay as fast and as small with a million stored cases as with ten "
        "thousand? One run seeds a store of its own to "
        f"{small.cases:,} cases, measures, grows it to {large.cases:,} and measures the same "
        "again, on the same machine, beside raw PostgreSQL on the same server and tables. "
        "[The everyday figures](benchmarks.md) (throughput, latency under load) are "
        "`make bench`'s.",
        "",
        f"![Each figure at {small.cases:,} and {large.cases:,} cases]({chart_name})",
        "",
        "## Results",
        "",
        f"| figure | {small.cases:,} cases | {large.cases:,} cases | ratio | target | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for f in rows:
        note = f" ({f.note})" if f.note else ""
        lines.append(
            f"| {f.name}{note} | {fmt(f.small, 2)} {f.unit} | {fmt(f.large, 2)} {f.unit} | "
            f"{fmt(f.ratio, 2)} | {f.target} | {verdict(f.met)} |"
        )
    missed = [f for f in rows if f.met is False]
    lines += [
        "",
        f"{len([f for f in rows if f.met])} of {len([f for f in rows if f.met is not None])} "
        "targets met"
        + (": missed — " + "; ".join(f.name for f in missed) + "." if missed else "."),
        "",
        "## The run",
        "",
        f"- **Machine**: {run.facts.get('CPU model', '?')}, {run.facts.get('CPUs (nproc)', '?')} "
        f"CPUs, {run.facts.get('Memory', '?')}; {run.facts.get('Kernel', '?')}; "
        f"{run.facts.get('Python', '?')}; PostgreSQL {run.facts.get('PostgreSQL', '?')} "
        f"({run.facts.get('PostgreSQL settings', '')}); Kafka {run.facts.get('Kafka', '?')}. "
        "Other work ran on the machine meanwhile: load averages (1, 5, 15 min) at the start "
        f"and end of each measurement: {small.cases:,}: {loads(small)}; "
        f"{large.cases:,}: {loads(large)}. Before the timed queries the run waited for the "
        "1-minute load average to fall below 1.0 and the kernel's unwritten data below 64 MB "
        "(PostgreSQL writing out the first checkpoint's marks; at most 5 min): "
        f"{small.quiet_after:,.0f} s at {small.cases:,}, "
        f"{large.quiet_after:,.0f} s at {large.cases:,}.",
        f"- **Prototypes**: {sum(run.prototype_kinds.values())} cases made in "
        f"{run.prototypes_seconds:,.0f} s by the three applications in process — "
        + ", ".join(f"{n} {k}" for k, n in sorted(run.prototype_kinds.items(), key=lambda x: -x[1]))
        + f"; read back as templates in {run.capture_seconds:,.1f} s.",
        f"- **Seeding to {small.cases:,}**: {seed_line(small)}.",
        f"- **Growing to {large.cases:,}**: {seed_line(large)} (the event tables' indexes "
        "dropped meanwhile and built again at the end, included).",
        f"- **Store size**: {small.store_bytes / 1e9:,.2f} GB at {small.cases:,} cases, "
        f"{large.store_bytes / 1e9:,.1f} GB at {large.cases:,} "
        f"(~{large.store_bytes / large.cases / 1e3:,.0f} kB a case). Rows: "
        + ", ".join(f"{name} {n:,}" for name, n in large.tables.items())
        + ".",
        f"- **The 200-event case**: registered, assigned, accepted, planned, reported on, "
        f"answered, visited back and closed out through the three APIs, then visited until its "
        f"history held {run.history_events} events ({run.history_seconds:,.0f} s); case "
        f"`{run.history_case}`.",
        "",
        "## Is the seeded store usable?",
        "",
    ]
    for phase in run.phases:
        lines.append(f"- **{phase.cases:,} cases**: " + "; ".join(phase.checks) + ".")
        lines.append(
            "  Totals the APIs report: "
            + ", ".join(f"{k}: {v}" for k, v in phase.totals.items())
            + "."
        )
    lines += [
        "",
        "## What is measured, and how",
        "",
        f"- **Start to ready**: each service in turn is stopped and started {o.starts} times "
        "with the project's script (`deploy/scripts/services.sh start <service>`, the other two "
        "running); the time runs from launching the script to the first `200` of "
        "`/health/ready` (polled every 20 ms): the schema checked, the read models caught up, "
        "the consumer in its group. Median (and slowest).",
        "- **Memory**: `VmRSS` of each service's process a second after each start (median of "
        "the starts); then, after the fixed workload below on the last start, `VmRSS` and the "
        "peak `VmHWM` since that start (`/proc/<pid>/status`).",
        f"- **Workload** (the same at both sizes): {o.workload} registrations through intake's "
        "API, each assigned by routing and scheduled by follow-up over Kafka, then the queries.",
        f"- **Queries**: {o.warmup} untimed rounds, then {o.requests} timed rounds; each round "
        "sends each query once, one after another on keep-alive connections (so a spell of load "
        "from elsewhere hits them all alike); p99 is the nearest-rank percentile of those "
        "answers as this client saw them (its own time included). Every answer was a `200`. "
        "The ledger by department and the inboxes are asked by a handler of the department "
        f"with the most cases ({run.department}); the others by a supervisor, an auditor "
        "(history) or a clerk (listings); each answer is a page of 50, with its total counted "
        "up to 10,000 (`total_exact` false beyond: shared/listing.py). The history is read "
        "from the store (not a cache), its chain verified and checked against the case's "
        "leaf in the latest signed checkpoint — follow-up signs one at its start and every "
        "minute something changed, over every stored case, streaming them (the memory "
        "figures include it). The dossier and the month's statistics are timed on their own, "
        "after the others: each reads much of the store. Follow-up's gauges (cases by status, "
        "running deadlines by state and department, breaches by kind: what `/metrics` counts "
        "at most every 30 s by default, serving the last count in between) are counted "
        "50 times from this process with follow-up's own code (`PostgresLedger.gauges`).",
        "- **Raw PostgreSQL**: the same number of rounds from this process with psycopg "
        "(autocommit, prepared after five runs): a `SELECT` by primary key on follow-up's "
        "`ledger_cases` (one row per stored case), an indexed range of 50 rows on intake's "
        "`case_index` by `registered_at`, and counting one department's running deadlines.",
        "",
        "## What the store is made of",
        "",
        "The store is seeded through the stores, not through the services (bench/seed.py): "
        "a few hundred **prototype cases** are made by the services' own applications, in the "
        "bench's process, on this PostgreSQL — with their read models projected by the "
        "services' own projectors — and then **cloned** with `COPY`. Most prototypes lived "
        "their whole life on a clock the bench moved (registered, assigned, accepted, "
        "planned, reported on, co-handlers' parts, answered, visited back or rated by the "
        "petitioner, closed out; a few reopened once, declined or diverted), follow-up's clock "
        "firing reminders, breaches and supervision notices on the way; ~7% are still open "
        "(just assigned, in handling, overdue, answered and awaiting the return visit, waiting "
        "for manual dispatch).",
        "",
        "- A clone has a new case id (random), so new history id, event ids, causation ids "
        "and case code; a new petitioner (a new, well-formed ID number and phone, hence a new "
        "registry id under the run's key; name and address are the prototype's); new "
        "conversation ids; and every time in it moved back by its own whole number of "
        "seconds — closed cases up to three years, open ones only so far that their next "
        "alarm stays at least 12 hours ahead (follow-up's clock has nothing to fire during "
        "the bench; a real store's open cases would have alarms due every minute). Deadlines "
        "keep their length, so working-day deadlines may end on a weekend.",
        "- Intake's events are sealed again under the run's data keyring (shared/cipher.py); "
        "**follow-up's hash chains are computed again for every clone and verify** (the "
        "history above says so for the oldest clone; `tests/integration/test_seed.py` checks "
        "it for every clone it makes).",
        "- The read models' rows are cloned the same way; the integration test rebuilds them "
        "from the cloned events with the services' own projectors and finds them identical. "
        "The read models' and the relays' positions are then set to the end of each log: a "
        "service started on the store projects nothing again, and the seeded events were "
        "never put on Kafka (the bench's topics hold only what happened after seeding). The "
        "prototypes' deliveries between applications are tracked under names of their own "
        "(`seed:<service>`), never a Kafka partition's.",
        "- A clone may name earlier prototypes as duplicate candidates (what intake found "
        "like it when its prototype was registered); clones of one prototype share its "
        "subject, description, place and category.",
        "- The seeding connections do not wait for each commit to reach the disk "
        "(`synchronous_commit=off`, that process only), and from "
        f"{50_000:,} cases on the event tables' primary keys and indexes are dropped while "
        "rows are copied and built again at the end (so they are denser than indexes grown "
        "one insert at a time). The services run with the server's settings. After seeding "
        "the tables are vacuumed and analysed (`VACUUM (ANALYZE)`), as autovacuum would "
        "leave them, and so is `chain_heads` after the first checkpoint marks every head: "
        "left to autovacuum, the vacuum of tens of gigabytes came in the middle of the timed "
        "queries.",
        "",
    ]
    return "\n".join(lines)


def loads(phase: Phase) -> str:
    return " → ".join("/".join(f"{x:.1f}" for x in load) for load in phase.load)


def write_docs(run: Run, doc: Path, chart_path: Path) -> None:
    chart_path.write_text(chart(run), encoding="utf-8")
    doc.write_text(render(run, chart_path.name), encoding="utf-8")
