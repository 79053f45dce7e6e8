"""`make bench`: OneStop's throughput and latency beside raw PostgreSQL and Kafka baselines.

One run measures, in this order, against the services `make up` started on 127.0.0.1:

1. PostgreSQL raw: single-row INSERTs, one per transaction, from 32 clients (pgbench).
2. Kafka raw: produce / consume ~20,000 records of ~600 bytes with acks=all, and the latency
   of one produce → consume hop at a paced rate.
3. Intake registrations/s from 32 concurrent keep-alive clients.
4. Register → assigned latency at a paced, open-loop 100 cases/s.
5. Whole-pipeline throughput: N cases until follow-up scheduled their assignment deadlines.
6. Resident memory of each service process.

It prints a table; with --write-docs it rewrites docs/benchmarks.md. Every loop is bounded
in count and time, and everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.baselines import kafka_baseline, pg_baseline
from bench.common import DOC, ROOT, Options, base_url, kafka_options, say
from bench.console_pages import START as CONSOLE_START
from bench.host import idle_probe, machine_facts, memory
from bench.report import CHART, Report, build_rows, cpu_chart, details, print_table, render_doc
from bench.steps import assign_latency, intake_throughput, pipeline_throughput
from bench.topics import wait_until_quiet
from shared.auth import issue_token
from shared.settings import SERVICES, Settings


def parse_options(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Options()
    p.add_argument("--clients", type=int, default=d.clients, help="concurrent clients (32)")
    p.add_argument("--pg-seconds", type=float, default=d.pg_seconds)
    p.add_argument("--kafka-records", type=int, default=d.kafka_records)
    p.add_argument("--intake-seconds", type=float, default=d.intake_seconds)
    p.add_argument(
        "--intake-warmup",
        type=float,
        default=d.intake_warmup,
        help="seconds of the same load before step 1's clock starts, not counted (5)",
    )
    p.add_argument("--latency-rate", type=float, default=d.latency_rate, help="cases/s (100)")
    p.add_argument("--latency-seconds", type=float, default=d.latency_seconds)
    p.add_argument("--pipeline-cases", type=int, default=d.pipeline_cases)
    p.add_argument("--pipeline-timeout", type=float, default=d.pipeline_timeout)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=d.drain_timeout,
        help="longest wait, between steps, for routing and follow-up to catch up (120 s)",
    )
    p.add_argument("--write-docs", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    a = p.parse_args(argv)
    if not 0 <= a.intake_warmup <= 600:
        p.error("--intake-warmup must be >= 0 and <= 600")
    for name in ("clients", "kafka_records", "pipeline_cases"):
        if not 1 <= getattr(a, name) <= 100_000:
            p.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    for name in (
        "pg_seconds",
        "intake_seconds",
        "latency_seconds",
        "latency_rate",
        "pipeline_timeout",
        "drain_timeout",
    ):
        if not 0 < getattr(a, name) <= 600:
            p.error(f"--{name.replace('_', '-')} must be > 0 and <= 600")
    return Options(
        clients=a.clients,
        pg_seconds=a.pg_seconds,
        kafka_records=a.kafka_records,
        intake_seconds=a.intake_seconds,
        intake_warmup=a.intake_warmup,
        latency_rate=a.latency_rate,
        latency_seconds=a.latency_seconds,
        pipeline_cases=a.pipeline_cases,
        pipeline_timeout=a.pipeline_timeout,
        drain_timeout=a.drain_timeout,
        write_docs=a.write_docs,
    )


def run(opts: Options) -> int:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    settings = Settings.load()
    kafka_options(settings)
    for service in SERVICES:
        base_url(settings, service)
    facts = machine_facts(settings)
    report = Report(started, facts, opts, routing_topic=settings.topic("routing"))
    say("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    token = issue_token(settings, "bench", "clerk", ttl=timedelta(hours=1))

    def step(name: str, fn: Callable[[], Any]) -> None:
        say(f"{name} …")
        begun = time.monotonic()
        try:
            report.results[name] = fn()
        except Exception as error:
            report.failures[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        say(f"{name} done in {time.monotonic() - begun:.1f} s")

    def drain(before: str) -> None:
        try:
            quiet = wait_until_quiet(settings, opts.drain_timeout)
        except Exception as error:
            report.drains.append(f"before {before}: the check failed ({error!r})")
            return
        word = "drained" if quiet["quiet"] else "had NOT drained"
        lag = "" if quiet["quiet"] else f", lag then {quiet['lag']}"
        report.drains.append(f"before {before} {quiet['seconds']:.1f} s{lag}")
        say(f"before {before} the pipeline {word} in {quiet['seconds']:.1f} s{lag}")

    drain("the idle probe")
    step("idle", lambda: idle_probe(3.0))
    step("pg", lambda: pg_baseline(settings, opts))
    step("kafka", lambda: kafka_baseline(settings, opts))
    drain("step 1")
    step("intake", lambda: asyncio.run(intake_throughput(settings, token, opts)))
    drain("step 2")
    step("latency", lambda: asyncio.run(assign_latency(settings, token, opts)))
    drain("step 3")
    step("pipeline", lambda: asyncio.run(pipeline_throughput(settings, token, opts)))
    step("memory", memory)
    report.seconds = time.monotonic() - t0

    rows = build_rows(report)
    print_table(rows)
    for line in details(report):
        print("  - " + line.replace("**", ""))
    if opts.write_docs:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        tmp = DOC.with_suffix(".md.tmp")
        text = render_doc(report, rows)
        if DOC.exists() and CONSOLE_START in (old := DOC.read_text(encoding="utf-8")):
            text += "\n" + old[old.index(CONSOLE_START) :]  # the console's own section stays
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(DOC)
        chart = cpu_chart(report)
        if chart:
            (DOC.parent / CHART).write_text(chart, encoding="utf-8")
        say(f"wrote {DOC.relative_to(ROOT)}")
    say(f"finished in {report.seconds:.0f} s")
    return 1 if report.failures else 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
