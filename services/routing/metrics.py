"""What the supervision office watches of routing, read from the inboxes at each scrape:
cases at each rung of the escalation ladder, departments' answers still owed, and the
cases waiting to be dispatched by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from services.routing.application import RoutingApplication


class RoutingMetrics(Collector):
    def __init__(self, app: RoutingApplication) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        inbox = self.app.inbox
        inbox.catch_up()
        rows = [r for rows in list(inbox._rows.values()) for r in rows]
        levels = {r.case_id: r.level.value for r in rows if r.case_status != "withdrawn"}
        levels.update((m.case_id, m.level.value) for m in list(inbox._manual.values()))

        ladder = GaugeMetricFamily(
            "onestop_cases_by_level",
            "Cases handled at each rung: window, joint meeting (联席会议), leader (包案).",
            labels=["level"],
        )
        for level, n in sorted(Counter(levels.values()).items()):
            ladder.add_metric([level], n)
        yield ladder

        answers = GaugeMetricFamily(
            "onestop_department_assignments",
            "Departments' parts in open cases, by the state of their answer.",
            labels=["department", "state"],
        )
        for (department, state), n in sorted(
            Counter((r.department, r.state.value) for r in rows).items()
        ):
            answers.add_metric([department, state], n)
        yield answers

        manual = GaugeMetricFamily(
            "onestop_manual_dispatch_queue", "Cases no rule covers, waiting for a person."
        )
        manual.add_metric([], inbox.manual_queue(limit=1)[1])
        yield manual
