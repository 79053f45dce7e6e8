"""The gauges a supervision office alerts on, read from the work ledger at each scrape:
open cases by status, deadlines running / due soon / overdue by department, breaches fired
by kind, and how many cases stand at each rung of the escalation ladder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from services.followup.application import FollowUpApplication

DUE_SOON = timedelta(hours=48)
"""As the ledger's `due-soon` listing counts it."""

CLOSED = ("closed-out", "final")


class FollowUpMetrics(Collector):
    def __init__(self, app: FollowUpApplication) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        ledger = self.app.ledger
        ledger.catch_up()
        now = self.app.clock()
        with ledger.log.lock:
            facts = list(ledger.facts.values())
            running = [due for dues in ledger.running.values() for due in dues]

        cases = GaugeMetricFamily(
            "onestop_cases", "Cases follow-up follows, by status.", labels=["status"]
        )
        for status, n in sorted(Counter(f.status for f in facts).items()):
            cases.add_metric([status], n)
        yield cases

        deadlines = GaugeMetricFamily(
            "onestop_deadlines",
            "Deadlines still to be met, by state (running, due-soon within 48 h, overdue, "
            "paused) and the department that answers for them.",
            labels=["state", "department"],
        )
        counted: Counter[tuple[str, str]] = Counter()
        for due in running:
            if due.paused:
                state = "paused"
            elif due.due_at <= now:
                state = "overdue"
            elif due.due_at - now <= DUE_SOON:
                state = "due-soon"
            else:
                state = "running"
            counted[(state, due.department or "(none)")] += 1
        for (state, department), n in sorted(counted.items()):
            deadlines.add_metric([state, department], n)
        yield deadlines

        breaches = CounterMetricFamily(
            "onestop_deadline_breaches",
            "Deadlines missed since the cases began, by kind of deadline.",
            labels=["kind"],
        )
        for kind, n in sorted(Counter(k for f in facts for k, _ in f.breaches).items()):
            breaches.add_metric([kind], n)
        yield breaches

        oldest = GaugeMetricFamily(
            "onestop_deadline_most_overdue_seconds",
            "How long the most overdue deadline has been overdue (0 if none is).",
        )
        overdue = [now - d.due_at for d in running if d.due_at <= now and not d.paused]
        oldest.add_metric([], max(overdue).total_seconds() if overdue else 0.0)
        yield oldest
