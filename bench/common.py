"""What every part of the bench shares: its options, names, figures and the rule that it
talks to 127.0.0.1 only."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.kafka import client_options
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"

REGISTERED = "onestop.intake.case.registered.v2"
ASSIGNED = "onestop.routing.case.assigned.v1"
SCHEDULED = "onestop.followup.deadlines.scheduled.v1"
RAW_TOPIC = "bench.raw"
SCRATCH_SCHEMA = "bench"
PAYLOAD_BYTES = 600
SINGLE_CLIENT_SECONDS = 3.0


@dataclass(frozen=True)
class Options:
    """How much each step measures and for how long (`python -m bench.pipeline -h`)."""

    clients: int = 32
    pg_seconds: float = 10.0
    kafka_records: int = 20_000
    hop_rate: float = 100.0
    hop_seconds: float = 3.0
    intake_seconds: float = 15.0
    intake_warmup: float = 5.0
    latency_rate: float = 100.0
    latency_seconds: float = 20.0
    latency_grace: float = 15.0
    pipeline_cases: int = 3_000
    pipeline_timeout: float = 180.0
    drain_timeout: float = 120.0
    write_docs: bool = False
    people: str = field(default_factory=lambda: str(time.time_ns()))
    """Whose phone numbers the registrations carry: new people each run (`registration_bodies`)."""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # nan
        return "—"
    return f"{value:,.{digits}f}"


def kafka_options(settings: Settings) -> dict[str, Any]:
    """The brokers (on this machine only) and the operator's sign-in: the bench reads every
    topic and writes scratch ones, which no service's principal may."""
    options = client_options(settings, "admin")
    for s in options["bootstrap_servers"]:
        if not s.startswith(("127.0.0.1:", "localhost:")):
            raise SystemExit(f"bench talks to 127.0.0.1 only; ONESTOP_KAFKA_BOOTSTRAP is {s}")
    return options


def base_url(settings: Settings, service: str) -> str:
    url = settings.url_of(service)  # type: ignore[arg-type]
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"bench talks to 127.0.0.1 only; the {service} URL is {url}")
    return url
