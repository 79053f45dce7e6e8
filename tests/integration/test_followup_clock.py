"""Follow-up's clock on the real PostgreSQL: after a restart it fires what fell due while it
was down, and two processes firing at once still fire each alarm once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.followup import wire
from services.followup.application import FollowUpApplication
from services.followup.bootstrap import MIGRATIONS
from services.followup.domain import FollowUpCase
from shared.messages import CaseAssigned, CaseRegistered, Department
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import eventsourcing_env
from tests.conftest import fresh
from tests.unit.messaging import Clock, send

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def app_on(settings: Settings, clock: Clock) -> FollowUpApplication:
    return FollowUpApplication(eventsourcing_env(settings, "followup"), clock=clock)


def test_alarms_due_while_down_fire_after_a_restart_once_even_from_two_processes(infra):
    settings = fresh(infra)
    migrate(settings, "followup", *MIGRATIONS)
    clock = Clock(T0)
    first = app_on(settings, clock)
    cases = [str(uuid4()) for _ in range(20)]
    for case_id in cases:
        send(
            first,
            CaseRegistered(
                case_id=case_id,
                channel="visit",
                subject="s",
                description="d",
                category="labour-wages",
                location={"place": "lutai", "path": ["ninghe", "lutai"]},
                registered_at=T0,
                first_receiver="alice",
            ),
        )
        send(
            first,
            CaseAssigned(
                case_id=case_id,
                lead=Department(code="ninghe-hrss", name="人社局"),
                rule_id="R-01",
                rule_version="v1",
                reason="r",
                assigned_at=T0,
            ),
            "routing",
        )
    assert first.fire_due() == 0
    first.close()  # the process stops; eight days pass

    clock.now = T0 + timedelta(days=8)
    a, b = app_on(settings, clock), app_on(settings, clock)
    counts: list[int] = []
    racers = [
        threading.Thread(target=lambda app=app: counts.append(app.fire_due())) for app in (a, b)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    events = [a.mapper.to_domain_event(n) for n in a.recorder.select_notifications(0, 10_000)]
    breaches = [e for e in events if isinstance(e, FollowUpCase.DeadlineBreached)]
    per_case: dict[UUID, list[str]] = {}
    for e in breaches:
        per_case.setdefault(e.originator_id, []).append(e.deadline.kind)
    # each case: the plan, the first report and the 7-day resolution are past; the 15-day
    # notice is not — and each breach is recorded once, whichever process got there first
    assert len(per_case) == 20
    assert all(
        sorted(k) == ["first-report", "handling-plan", "resolution"] for k in per_case.values()
    )
    assert sum(counts) == len(breaches) == 60
    assert a.fire_due() == 0 and b.fire_due() == 0  # nothing fires twice
    overdue = [wire.to_cloudevent(e) for e in breaches]
    assert {o.data["deadline"] for o in overdue if o} == {
        "handling-plan",
        "first-report",
        "resolution",
    }
    a.close()
    b.close()
