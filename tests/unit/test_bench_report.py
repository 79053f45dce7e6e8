"""The bench's report: where a case's CPU went, and what that allows (bench/report.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime

from bench.common import Options
from bench.host import CpuUse
from bench.report import CORES, Report, budget, build_rows, cpu_chart, details, render_doc

SVG = "{http://www.w3.org/2000/svg}"
SUMMARY = {"p50": 10.0, "p95": 20.0, "p99": 30.0, "max": 40.0}


def step(cores: dict[str, float], window: float, **more: object) -> dict[str, object]:
    return {"cpu": CpuUse(window, cores), **more}


def report() -> Report:
    r = Report(datetime(2026, 12, 2, 9, tzinfo=UTC), {"CPUs (nproc)": str(CORES)}, Options())
    # the figures of a real run (docs/benchmarks.md of 2026-12-02 06:40)
    r.results["intake"] = step(
        {"intake": 0.62, "followup": 0.47, "postgres": 0.40, "routing": 0.26, "kafka": 0.10}
        | {"bench": 0.03},
        15.1,
        clients=32,
        sent=3218,
        ok=3218,
        errors=Counter(),
        seconds=15.1,
        rps=213.1,
        http=SUMMARY,
        bench_cpu_ms_per_request=0.12,
        warmup_sent=1010,
    )
    r.results["latency"] = step(
        {"intake": 0.55, "postgres": 0.35, "followup": 0.28, "routing": 0.26, "kafka": 0.17}
        | {"bench": 0.17},
        20.1,
        rate=100.0,
        sent=2000,
        ok=2000,
        errors=Counter(),
        dispatch_rate=100.0,
        arrived=2000,
        missing=0,
        latency=SUMMARY,
        queued=SUMMARY,
        http=SUMMARY,
        stages={},
        watcher_error=None,
    )
    r.results["pipeline"] = step(
        {"intake": 0.56, "followup": 0.42, "postgres": 0.38, "routing": 0.23, "kafka": 0.11}
        | {"bench": 0.18},
        14.9,
        planned=3000,
        sent=3000,
        ok=3000,
        errors=Counter(),
        register_seconds=14.2,
        register_rps=211.0,
        published=3000,
        assigned=3000,
        scheduled=3000,
        missing=0,
        seconds=14.8,
        rps=202.0,
        complete=True,
        last={"published": 14.3, "assigned": 14.3, "scheduled": 14.8},
        http=SUMMARY,
        stages={},
        watcher_error=None,
    )
    return r


def test_a_steps_cpu_per_case_and_the_most_the_cores_carry_at_that_cost():
    r = report()
    found = budget(r.results["pipeline"], "scheduled")
    assert found is not None
    # follow-up: 0.42 cores × 14.9 s / 3,000 cases = 2.09 ms a case
    assert round(found.parts["followup"], 2) == 2.09
    assert next(iter(found.parts)) == "intake"  # the largest share first
    # the stack without the bench's client: 1.70 cores × 14.9 s / 3,000 = 8.44 ms
    assert round(found.stack_ms, 2) == 8.44
    assert round(found.ceiling) == round(CORES * 1000 / 8.443)
    text = found.text()
    assert "= 8.4 ms" in text and "client 0.89 ms more" in text
    assert budget(r.results["pipeline"] | {"scheduled": 0}, "scheduled") is None
    assert budget(None, "ok") is None


def test_the_report_says_it_beside_the_targets_and_draws_it():
    r = report()
    rows = {row.measure.split(",")[0]: row for row in build_rows(r)}
    assert "CPU per case: intake 2.91" in rows["1. Intake registrations/s"].baseline
    assert "cases/s at this cost" in rows["3. Whole pipeline: 3"].baseline
    assert any("CPU per case" in line for line in details(r) if line.startswith("**3."))
    # a paced step says how busy its rate kept the cores, not a ceiling
    paced = next(line for line in details(r) if line.startswith("**2."))
    assert "= 16.2 ms" in paced
    assert f"the stack kept 1.61 of {CORES} cores busy at 100 cases/s" in paced

    chart = cpu_chart(r)
    assert chart is not None
    svg = ET.fromstring(chart)
    bars = [e for e in svg.iter(f"{SVG}rect") if e.find(f"{SVG}title") is not None]
    # one segment per part for each of the three steps
    assert len(bars) == 3 * 6
    labels = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert f"1,000 registrations/s: ≤ {CORES:.1f} ms" in labels
    assert f"300 cases/s: ≤ {CORES * 1000 / 300:.1f} ms" in labels
    ceiling = round(CORES * 1000 / 8.443)  # the pipeline's stack: 8.44 ms a case
    assert f"at most {ceiling} cases/s at this cost" in labels
    assert f"1.61 of {CORES} cores busy at 100 cases/s" in labels
    assert "benchmarks-cpu.svg" in render_doc(r, build_rows(r))


def test_no_chart_without_a_step_that_measured_cases():
    r = Report(datetime(2026, 12, 2, tzinfo=UTC), {}, Options())
    assert cpu_chart(r) is None
    assert "benchmarks-cpu.svg" not in render_doc(r, build_rows(r))
