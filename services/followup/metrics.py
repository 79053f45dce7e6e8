"""The gauges a supervision office alerts on, read from the work ledger (at most every
`gauges_seconds`): open cases by status, deadlines running / due soon / overdue by
department, breaches fired by kind, and how many cases stand at each rung of the
escalation ladder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.metrics import Recent

if TYPE_CHECKING:
    from services.followup.application import FollowUpApplication


class FollowUpMetrics(Collector):
    def __init__(self, app: FollowUpApplication, every: float = 0.0) -> None:
        self.gauges = Recent(lambda: app.ledger.gauges(app.clock()), every)

    def collect(self) -> Iterable[Metric]:
        gauges = self.gauges()

        cases = GaugeMetricFamily(
            "onestop_cases", "Cases follow-up follows, by status.", labels=["status"]
        )
        for status, n in sorted(gauges.cases_by_status.items()):
            cases.add_metric([status], n)
        yield cases

        deadlines = GaugeMetricFamily(
            "onestop_deadlines",
            "Deadlines still to be met, by state (running, due-soon within 48 h, overdue, "
            "paused) and the department that answers for them.",
            labels=["state", "department"],
        )
        for (state, department), n in sorted(gauges.deadlines.items()):
            deadlines.add_metric([state, department], n)
        yield deadlines

        breaches = CounterMetricFamily(
            "onestop_deadline_breaches",
            "Deadlines missed since the cases began, by kind of deadline.",
            labels=["kind"],
        )
        for kind, n in sorted(gauges.breaches_by_kind.items()):
            breaches.add_metric([kind], n)
        yield breaches

        oldest = GaugeMetricFamily(
            "onestop_deadline_most_overdue_seconds",
            "How long the most overdue deadline has been overdue (0 if none is).",
        )
        oldest.add_metric([], gauges.most_overdue_seconds)
        yield oldest
