"""The queue at the centre: tickets, shared windows, calling order, transfers, waiting figures."""

from datetime import UTC, date, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from services.intake.application import IntakeApplication
from services.intake.queue import QueueDay, QueueError, QueueLayout
from shared.domain import Actor
from tests.territory import seeded

GUIDE = Actor("guide", "clerk")
ADMIN = Actor("root", "admin")


@pytest.fixture
def layout():
    layout = QueueLayout.start()
    layout.define_line("A", "综合接待", ADMIN)
    layout.define_line("B", "劳动社保", ADMIN)
    layout.define_window("W01", ["guide-desk"], ["A"], ADMIN)
    layout.define_window("W02", ["ninghe-hrss", "qiaocheng-hrss"], ["B", "A"], ADMIN)
    return layout


def test_a_window_is_shared_by_at_most_two_departments(layout):
    with pytest.raises(QueueError) as error:
        layout.define_window("W03", ["a", "b", "c"], ["A"], ADMIN)
    assert error.value.field == "departments"
    with pytest.raises(QueueError) as error:
        layout.define_window("W03", ["a"], ["Z"], ADMIN)
    assert error.value.field == "lines"


def test_tickets_are_numbered_per_line(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    numbers = [queue.issue(line, layout, GUIDE)["number"] for line in "ABA"]
    assert numbers == ["A001", "B001", "A002"]
    with pytest.raises(QueueError) as error:
        queue.issue("Q", layout, GUIDE)
    assert error.value.field == "line"


def test_a_window_calls_the_longest_waiting_ticket_of_its_lines(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    for line in "ABA":
        queue.issue(line, layout, GUIDE)
    assert queue.call_next("W02", layout, GUIDE)["number"] == "A001"  # oldest of A and B
    assert queue.call_next("W01", layout, GUIDE)["number"] == "A002"
    assert queue.call_next("W01", layout, GUIDE) is None  # W01 serves only line A
    assert queue.tickets["A002"]["state"] == "served"  # calling the next ends the previous
    assert queue.call_next("W02", layout, GUIDE)["number"] == "B001"


def test_a_transferred_visitor_is_called_first_at_the_new_window(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    for line in "AAB":
        queue.issue(line, layout, GUIDE)
    queue.call_next("W01", layout, GUIDE)  # A001
    queue.transfer("A001", "W02", "工资问题，转劳动社保窗口", layout, GUIDE)
    assert queue.tickets["A001"]["state"] == "waiting"
    assert queue.call_next("W02", layout, GUIDE)["number"] == "A001"
    assert queue.tickets["A001"]["transfers"] == [
        {"from": "W01", "to": "W02", "reason": "工资问题，转劳动社保窗口"}
    ]
    with pytest.raises(QueueError):
        queue.transfer("A002", "W02", "x", layout, GUIDE)  # not at a window


def test_waiting_figures_per_line(layout):
    app = seeded(IntakeApplication())
    for code, name in layout.lines.items():
        app.define_line(code, name, ADMIN)
    app.define_window("W01", ["guide-desk"], ["A"], ADMIN)
    app.issue_ticket("A", GUIDE)
    app.issue_ticket("A", GUIDE)
    app.call_next("W01", GUIDE)
    app.finish_ticket("A001", "served", None)
    figures = app.queue_today().figures(datetime.now(UTC) + timedelta(minutes=10), app.layout())
    line = figures["lines"]["A"]
    assert (line["issued"], line["waiting"], line["served"]) == (2, 1, 1)
    assert line["mean_wait_seconds"] is not None and line["mean_wait_seconds"] >= 0
    assert line["longest_waiting_now_seconds"] >= 600 - 5
    assert figures["lines"]["B"]["issued"] == 0


def test_two_windows_calling_at_once_never_get_the_same_ticket(layout):
    app = seeded(IntakeApplication())
    for code, name in layout.lines.items():
        app.define_line(code, name, ADMIN)
    app.define_window("W01", ["guide-desk"], ["A"], ADMIN)
    app.define_window("W02", ["x"], ["A"], ADMIN)
    app.issue_ticket("A", GUIDE)
    app.issue_ticket("A", GUIDE)
    stale = app.queue_today()  # what a second window loaded before the first one saved
    first = app.call_next("W01", GUIDE)
    stale.call_next("W02", app.layout(), GUIDE)
    with pytest.raises(IntegrityError):
        app.save(stale)  # the conflicting save is refused; the application retries on new state
    second = app.call_next("W02", GUIDE)
    assert {first["number"], second["number"]} == {"A001", "A002"}
