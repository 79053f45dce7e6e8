"""Two of each: two copies of every service as processes on one PostgreSQL and one Kafka
(bench/twins.py runs the scenario; `make twins` runs it longer and writes docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bench.twins import COPY_NAMES, Plan, Six, scenario, verdicts
from shared.settings import SERVICES
from tests.conftest import fresh
from tests.territory import SEED

pytestmark = pytest.mark.e2e

PLAN = Plan(rate=10, connections=4, before=50, during=30, after=30, compare=60, timeout=90)
"""Short, and generous with time: the machine may be busy with other work."""


def test_two_of_each_share_the_work_survive_a_kill_lose_nothing_and_agree(infra, tmp_path: Path):
    settings = fresh(infra)
    second = int(os.environ.get("ONESTOP_TEST_PORT_BASE", "18000")) + 3
    result = asyncio.run(scenario(Six(settings, second, tmp_path), PLAN, SEED))

    # the work shared: each topic's partitions half and half, one relay leading
    for service in SERVICES:
        view = result.spread[service]
        assert view.spread(), service
        halves = {n: view.per_topic(n) for n in COPY_NAMES}
        assert halves["a"] == halves["b"] and set(halves["a"].values()) == {3}, (service, halves)

    # failover: the copy of each service whose relay led was killed; the survivor took every
    # partition and the relay; the killed copy, restarted, shares them again
    for service in SERVICES:
        f = result.failovers[service]
        assert f.before is not None and f.before.leaders == [f.victim], service
        assert f.during is not None and f.during.held_by(f.survivor), service
        assert f.during.leaders == [f.survivor], service
        assert f.after is not None and f.after.spread(), service
        assert f.killed_at < f.consumer_at and f.killed_at < f.relay_at < f.spread_at

    tally = result.tally
    assert tally.refused == []
    assert tally.answered == tally.logical > PLAN.before + PLAN.during + PLAN.after
    assert (tally.lost, tally.duplicated, tally.unverified) == (0, 0, 0), (
        tally.losses(),
        tally.duplicates(),
    )
    assert tally.moved > 0  # registrations first sent to the killed intake, served by the other
    # a case registered by one intake copy is read from the other at once; every case and
    # listing reads the same from both copies of each service
    assert tally.cross_reads["200"] > 0 and tally.inconsistent == 0, tally.disagreements
    assert set(tally.listings) >= {
        "intake GET /v1/cases",
        "routing GET /v1/dispatch-queue",
        "followup GET /v1/deadlines?state=running",
    }

    # both follow-up clocks found every handling plan overdue; each recorded once
    assert result.clock_overdue == result.clock_cases == tally.answered
    assert result.clock_twice == 0
    assert result.clock_ledgers[0] == result.clock_ledgers[1] is not None

    # and `make twins` would say so: every verdict of its summary passes
    assert [name for name, _, passed in verdicts(result) if not passed] == []
