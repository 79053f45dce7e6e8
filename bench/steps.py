"""Steps 1–3: intake registrations/s, register → assigned latency, whole-pipeline
throughput."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import ASSIGNED, REGISTERED, Options, summary_ms
from bench.host import cpu_window
from bench.load import Outcome, Registrar, registration_bodies, tally
from bench.topics import Watcher, is_assigned, is_assignment_deadlines, is_registered
from shared.settings import Settings


async def intake_throughput(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"clients": opts.clients}
    registrar = Registrar(settings, token, opts.clients)
    # More bodies than 32 clients could send in the window: the window is what bounds it.
    bodies = registration_bodies(int(opts.intake_seconds * 3_000), 3, opts.people)
    try:
        await registrar.warm()
        if opts.intake_warmup:  # caches, pools, the broker's JIT: not what is measured
            warmup = registration_bodies(int(opts.intake_warmup * 3_000), 13, opts.people)
            result["warmup_sent"] = len(await registrar.closed_loop(warmup, opts.intake_warmup))
        with cpu_window(result):
            start = time.monotonic()
            outcomes = await registrar.closed_loop(bodies, opts.intake_seconds)
            wall = time.monotonic() - start
    finally:
        await registrar.close()
    ok, errors = tally(outcomes)
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "seconds": wall,
            "rps": ok / wall,
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "bench_cpu_ms_per_request": result["cpu"].cores.get("bench", 0)
            * wall
            * 1000
            / max(1, len(outcomes)),
            "case_ids": [o.case_id for o in outcomes if o.case_id],
        }
    )
    return result


def stage_delays(
    outcomes: list[Outcome], stages: list[tuple[str, dict[str, float]]]
) -> dict[str, dict[str, float]]:
    """Per-case time from one stage to the next (p50/p95/p99/max in ms), for cases that
    reached both. The first stage is when the registration was due/sent."""
    found: dict[str, dict[str, float]] = {}
    previous_name, previous = "sent", {o.case_id: o.sent for o in outcomes if o.case_id}
    for name, seen in stages:
        found[f"{previous_name} → {name}"] = summary_ms(
            [seen[c] - t for c, t in previous.items() if c in seen]
        )
        previous_name, previous = name, {c: seen[c] for c in previous if c in seen}
    return found


async def assign_latency(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    n = max(1, int(opts.latency_rate * opts.latency_seconds))
    result: dict[str, Any] = {"rate": opts.latency_rate, "planned": n}
    bodies = registration_bodies(n, 4, opts.people)
    published = Watcher(
        settings, settings.topic("intake"), is_registered, prefilter=REGISTERED.encode()
    )
    watcher = Watcher(settings, settings.topic("routing"), is_assigned, prefilter=ASSIGNED.encode())
    published.start()
    watcher.start()
    registrar = Registrar(settings, token, opts.clients)
    try:
        await registrar.warm()
        with cpu_window(result):
            outcomes = await registrar.paced(bodies, opts.latency_rate)
            wanted = {o.case_id for o in outcomes if o.case_id}
            deadline = time.monotonic() + opts.latency_grace
            while not wanted <= watcher.seen.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        await registrar.close()
        watcher.close()
        published.close()
    ok, errors = tally(outcomes)
    latencies = [
        watcher.seen[o.case_id] - o.sent
        for o in outcomes
        if o.case_id and o.case_id in watcher.seen
    ]
    first_due = min(o.sent for o in outcomes)
    last_start = max(o.started for o in outcomes)
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "dispatch_rate": (len(outcomes) - 1) / (last_start - first_due)
            if last_start > first_due
            else float("nan"),
            "arrived": len(latencies),
            "missing": ok - len(latencies),
            "latency": summary_ms(latencies),
            "queued": summary_ms([o.started - o.sent for o in outcomes]),
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "stages": stage_delays(
                outcomes,
                [
                    ("on the intake topic", published.seen),
                    ("assigned record received", watcher.seen),
                ],
            ),
            "watcher_error": watcher.error or published.error,
        }
    )
    return result


# --------------------------------------------------------------------------- 5. pipeline


async def pipeline_throughput(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    n = opts.pipeline_cases
    result: dict[str, Any] = {"planned": n, "timeout": opts.pipeline_timeout}
    bodies = registration_bodies(n, 5, opts.people)
    watchers = {
        "published": Watcher(
            settings, settings.topic("intake"), is_registered, prefilter=REGISTERED.encode()
        ),
        "assigned": Watcher(
            settings, settings.topic("routing"), is_assigned, prefilter=ASSIGNED.encode()
        ),
        "scheduled": Watcher(
            settings,
            settings.topic("followup"),
            is_assignment_deadlines,
            prefilter=b"handling-plan",
        ),
    }
    for w in watchers.values():
        w.start()
    done_watcher = watchers["scheduled"]
    registrar = Registrar(settings, token, opts.clients)
    try:
        await registrar.warm()
        with cpu_window(result):
            start = time.monotonic()
            deadline = start + opts.pipeline_timeout
            outcomes = await registrar.closed_loop(bodies, opts.pipeline_timeout)
            registered_at = time.monotonic()
            wanted = {o.case_id for o in outcomes if o.case_id}
            while not wanted <= done_watcher.seen.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        await registrar.close()
        for w in watchers.values():
            w.close()
    ok, errors = tally(outcomes)
    reached = {name: [w.seen[c] for c in wanted if c in w.seen] for name, w in watchers.items()}
    done = reached["scheduled"]
    end = max(done) if done else time.monotonic()
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "register_seconds": registered_at - start,
            "register_rps": ok / (registered_at - start),
            "published": len(reached["published"]),
            "assigned": len(reached["assigned"]),
            "scheduled": len(done),
            "missing": ok - len(done),
            "seconds": end - start,
            "rps": len(done) / (end - start) if done else 0.0,
            "complete": len(done) == ok == n,
            "last": {
                name: (max(times) - start) if times else float("nan")
                for name, times in reached.items()
            },
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "stages": stage_delays(
                outcomes,
                [
                    ("on the intake topic", watchers["published"].seen),
                    ("assigned", watchers["assigned"].seen),
                    ("deadlines scheduled", done_watcher.seen),
                ],
            ),
            "watcher_error": next((w.error for w in watchers.values() if w.error), None),
        }
    )
    return result
