"""A real centre's rush at the queue on the real PostgreSQL: 4 kiosks and 27 windows at once
over HTTP against intake running as its own process (the rush `make bench` times, see
bench/queue_rush.py), and two intake applications sharing one day's queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.queue_rush import Plan, Rush
from services.intake.bootstrap import build_application
from services.intake.commands import CallNext, FinishTicket, IssueTicket
from services.intake.queue import TicketState
from shared.domain import Actor
from shared.settings import Settings
from tests.conftest import fresh
from tests.e2e.conftest import Stack
from tests.territory import SEED, seeded

pytestmark = pytest.mark.integration
GUIDE = Actor("guide", "clerk")


@pytest.fixture
def intake(infra: Settings, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(fresh(infra), tmp_path)
    try:
        stack.start("intake")
        stack.start("routing")  # where the centre's lines and windows are defined
        stack.cli("territory", "import", str(SEED))
        yield stack
    finally:
        stack.stop_all()


def test_600_visitors_through_27_windows_and_4_kiosks_at_once(intake: Stack) -> None:
    settings = intake.settings
    plan = Plan(visitors=600, windows=27, kiosks=4, timeout=90)
    outcome = asyncio.run(Rush(settings.url_of("intake"), settings, plan).run())

    assert outcome.errors == []  # no 5xx, no 4xx
    assert len(outcome.issued) == 600 and not outcome.gave_up
    assert outcome.foreign == []
    assert set(outcome.issued.values()) == {"A", "B", "C", "D"}
    assert sum(len(to) for to in outcome.transfers.values()) > 0
    # numbers contiguous from 001 per line; everyone called once, again at each window they
    # were sent to, and served once; the board and the figures say the same
    assert outcome.problems(from_one=True) == []
    figures = outcome.figures_after["lines"]
    assert sum(line["served"] for line in figures.values()) == 600


def test_two_intake_processes_share_the_days_queue_without_losing_a_ticket(
    infra: Settings,
) -> None:
    """Each application is what one intake process would run: its own writer of the day,
    its own memory. Their saves do conflict at times; each is caught up and applied again."""
    settings = fresh(infra)
    # one store, so one replica of the territory: the demo's W01 calls A, W02 B then A,
    # W04 D then A
    apps = [seeded(build_application(settings)), build_application(settings)]
    issued: list[str] = []
    calls: Counter[str] = Counter()
    served: list[str] = []
    kiosks_done: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(7)

    def kiosk(app_index: int) -> None:
        start.wait()
        for i in range(25):
            issued.append(apps[app_index].issue_ticket(IssueTicket("AB"[i % 2]), GUIDE).number)
        kiosks_done.append(app_index)

    def window(app_index: int, code: str) -> None:
        start.wait()
        while len(kiosks_done) < 4 or len(served) < len(issued):
            ticket = apps[app_index].call_next(CallNext(code), GUIDE)
            if ticket is None:
                time.sleep(0.01)  # nobody waiting for this window yet: look again
                continue
            calls[ticket.number] += 1
            served.append(
                apps[app_index]
                .finish_ticket(FinishTicket(ticket.number, TicketState.SERVED))
                .number
            )

    def guarded(target, *args) -> None:
        try:
            target(*args)
        except BaseException as error:
            failures.append(error)
            raise

    actors = [(kiosk, i % 2) for i in range(4)] + [
        (window, 0, "W01"),
        (window, 1, "W02"),
        (window, 1, "W04"),
    ]
    threads = [threading.Thread(target=guarded, args=actor) for actor in actors]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert len(issued) == 100
        for line in "AB":
            numbers = sorted(n for n in issued if n.startswith(line))
            assert numbers == [f"{line}{i:03d}" for i in range(1, len(numbers) + 1)]
        assert sorted(served) == sorted(issued) and set(calls.values()) == {1}
        for app in apps:  # each process reads the day as the other left it too
            assert {t.state for t in app.queue_today().tickets.values()} == {"served"}
    finally:
        for app in apps:
            app.close()
