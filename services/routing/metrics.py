"""What the supervision office watches of routing, read from the inboxes (at most every
`gauges_seconds`): cases at each rung of the escalation ladder, departments' answers still
owed, and the cases waiting to be dispatched by hand."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.metrics import Recent

if TYPE_CHECKING:
    from services.routing.application import RoutingApplication


class RoutingMetrics(Collector):
    def __init__(self, app: RoutingApplication, every: float = 0.0) -> None:
        self.gauges = Recent(app.inbox.gauges, every)

    def collect(self) -> Iterable[Metric]:
        gauges = self.gauges()

        ladder = GaugeMetricFamily(
            "onestop_cases_by_level",
            "Cases handled at each rung: window, joint meeting (联席会议), leader (包案).",
            labels=["level"],
        )
        for level, n in sorted(gauges.cases_by_level.items()):
            ladder.add_metric([level], n)
        yield ladder

        answers = GaugeMetricFamily(
            "onestop_department_assignments",
            "Departments' parts in open cases, by the state of their answer.",
            labels=["department", "state"],
        )
        for (department, state), n in sorted(gauges.parts.items()):
            answers.add_metric([department, state], n)
        yield answers

        manual = GaugeMetricFamily(
            "onestop_manual_dispatch_queue", "Cases no rule covers, waiting for a person."
        )
        manual.add_metric([], gauges.manual_queue)
        yield manual
