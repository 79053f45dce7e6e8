"""The queue at the centre: tickets, shared windows, calling order, transfers, waiting figures,
and the day's one writer that kiosks and windows all go through at once."""

import random
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from services.intake.application import IntakeApplication
from services.intake.commands import CallNext, FinishTicket, IssueTicket, TransferTicket
from services.intake.queue import (
    LayoutView,
    QueueDay,
    QueueError,
    TicketState,
    Transfer,
    Window,
    day_id,
)
from shared.domain import Actor
from shared.territory import Department, Line
from shared.territory import Window as TerritoryWindow
from tests.territory import seeded, told

GUIDE = Actor("guide", "clerk")
ADMIN = Actor("root", "admin")


@pytest.fixture
def layout():
    """Plain lines and windows, not the QueueLayout aggregate: the day needs nothing more."""
    return LayoutView(
        lines={"A": "综合接待", "B": "劳动社保"},
        windows={
            "W01": Window(("guide-desk",), ("A",)),
            "W02": Window(("ninghe-hrss", "qiaocheng-hrss"), ("B", "A")),
        },
    )


def centre(app: IntakeApplication, windows: dict[str, tuple[str, ...]]) -> None:
    """Intake hears the centre's lines and windows from the territory's registry."""
    lines = [Line("A", "综合接待"), Line("B", "劳动社保"), Line("C", "征拆住建")]
    units = [Department(f"dept-{code}", f"单位 {code}", "centre") for code in windows]
    seats = [
        TerritoryWindow(code, (f"dept-{code}",), tuple(lines_)) for code, lines_ in windows.items()
    ]
    told(app, *lines, *units, *seats)


def test_the_queue_calls_what_the_territory_defines_and_a_retired_window_calls_nobody():
    app = seeded(IntakeApplication())
    assert app.layout().windows["W02"] == Window(("ninghe-hrss", "qiaocheng-hrss"), ("B", "A"))
    assert app.issue_ticket(IssueTicket("B"), GUIDE).number == "B001"
    told(app, TerritoryWindow("W02", ("ninghe-hrss",), ("B",), active=False))
    with pytest.raises(QueueError) as error:
        app.call_next(CallNext("W02"), GUIDE)
    assert error.value.field == "window"
    assert app.call_next(CallNext("W06"), GUIDE) is None  # W06 calls E and C: nobody waits for them


def test_tickets_are_numbered_per_line(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    numbers = [queue.issue(line, layout, GUIDE).number for line in "ABA"]
    assert numbers == ["A001", "B001", "A002"]
    with pytest.raises(QueueError) as error:
        queue.issue("Q", layout, GUIDE)
    assert error.value.field == "line"


def test_a_window_calls_the_longest_waiting_ticket_of_its_lines(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    for line in "ABA":
        queue.issue(line, layout, GUIDE)
    assert queue.call_next("W02", layout, GUIDE).number == "A001"  # oldest of A and B
    assert queue.call_next("W01", layout, GUIDE).number == "A002"
    assert queue.call_next("W01", layout, GUIDE) is None  # W01 serves only line A
    assert queue.tickets["A002"].state == "served"  # calling the next ends the previous
    assert queue.call_next("W02", layout, GUIDE).number == "B001"


def test_a_transferred_visitor_is_called_first_at_the_new_window(layout):
    queue = QueueDay.open(date(2026, 11, 21))
    for line in "AAB":
        queue.issue(line, layout, GUIDE)
    queue.call_next("W01", layout, GUIDE)  # A001
    moved = queue.transfer("A001", "W02", "工资问题，转劳动社保窗口", layout, GUIDE)
    assert (moved.state, moved.for_window) == ("waiting", "W02")
    assert queue.call_next("W02", layout, GUIDE).number == "A001"
    assert queue.tickets["A001"].transfers == (
        Transfer(from_window="W01", to_window="W02", reason="工资问题，转劳动社保窗口"),
    )
    with pytest.raises(QueueError):
        queue.transfer("A002", "W02", "x", layout, GUIDE)  # not at a window


def test_waiting_figures_per_line():
    app = IntakeApplication()
    centre(app, {"W01": ("A",)})
    app.issue_ticket(IssueTicket("A"), GUIDE)
    app.issue_ticket(IssueTicket("A"), GUIDE)
    app.call_next(CallNext("W01"), GUIDE)
    app.finish_ticket(FinishTicket("A001", TicketState.SERVED))
    figures = app.queue_today().figures(datetime.now(UTC) + timedelta(minutes=10), app.layout())
    line = figures.lines["A"]
    assert (line.issued, line.waiting, line.served, line.at_window) == (2, 1, 1, 0)
    assert line.mean_wait_seconds is not None and line.mean_wait_seconds >= 0
    assert line.longest_waiting_now_seconds is not None
    assert line.longest_waiting_now_seconds >= 600 - 5
    assert figures.lines["B"].issued == 0


def test_the_day_is_the_centres_local_date_not_the_utc_date():
    now = [datetime(2026, 11, 20, 23, 30, tzinfo=UTC)]  # 07:30 on 21 November in Beijing
    app = IntakeApplication(clock=lambda: now[0])
    centre(app, {"W01": ("A",)})
    assert app.issue_ticket(IssueTicket("A"), GUIDE).number == "A001"
    assert app.queue_today().day == "2026-11-21"
    assert app.queue_today().tickets.keys() == {"A001"}
    now[0] = datetime(2026, 11, 21, 15, 59, tzinfo=UTC)  # 23:59 in Beijing: the same day
    assert app.issue_ticket(IssueTicket("A"), GUIDE).number == "A002"
    now[0] = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)  # local midnight: a new day, from 001
    assert app.issue_ticket(IssueTicket("A"), GUIDE).number == "A001"
    assert app.queue_today().day == "2026-11-22"
    with pytest.raises(QueueError) as error:
        app.finish_ticket(FinishTicket("A002", TicketState.SERVED))  # yesterday's ticket
    assert error.value.field == "number"


def test_a_reader_holds_the_day_as_it_was_while_the_writer_moves_on():
    app = IntakeApplication()
    centre(app, {"W01": ("A",)})
    app.issue_ticket(IssueTicket("A"), GUIDE)
    before = app.queue_today()
    app.call_next(CallNext("W01"), GUIDE)
    app.issue_ticket(IssueTicket("A"), GUIDE)
    assert [(t.number, t.state) for t in before.tickets.values()] == [("A001", "waiting")]
    with pytest.raises(TypeError):
        before.tickets["A009"] = before.tickets["A001"]  # type: ignore[index]
    assert [t.state for t in app.queue_today().tickets.values()] == ["called", "waiting"]


def test_a_rush_of_kiosks_and_windows_at_once_loses_skips_and_repeats_nothing():
    """31 threads on one application: 4 kiosks issue 60 tickets each for three lines (and
    now and then for a line that does not exist), 27 windows call, transfer and finish."""
    app = IntakeApplication()
    windows = {f"W{i:02d}": ("ABC"[i % 3], "A") if i % 2 else ("ABC"[i % 3],) for i in range(27)}
    centre(app, windows)
    conflicts = Counter[str]()
    save = app.save

    def counting_save(*objects):
        try:
            return save(*objects)
        except IntegrityError:
            conflicts["day"] += 1
            raise

    app.save = counting_save  # type: ignore[method-assign]
    start = threading.Barrier(31)
    issued: list[str] = []
    calls: Counter[str] = Counter()
    served: list[str] = []
    refused: list[str] = []
    kiosks_done = threading.Event()
    failures: list[BaseException] = []

    def kiosk(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(60):
            issued.append(app.issue_ticket(IssueTicket(rng.choice("AABC")), GUIDE).number)
            if rng.random() < 0.05:
                with pytest.raises(QueueError):
                    app.issue_ticket(IssueTicket("Z"), GUIDE)
                refused.append("Z")

    def window(code: str, seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        while not (kiosks_done.is_set() and len(served) == len(issued)):
            ticket = app.call_next(CallNext(code), GUIDE)
            if ticket is None:
                continue
            calls[ticket.number] += 1
            if not ticket.transfers and rng.random() < 0.1:
                to = rng.choice([w for w in windows if w != code])
                app.transfer_ticket(TransferTicket(ticket.number, to, "另一窗口受理"), GUIDE)
            else:
                served.append(
                    app.finish_ticket(FinishTicket(ticket.number, TicketState.SERVED)).number
                )

    def guarded(target, *args):
        try:
            target(*args)
        except BaseException as error:
            failures.append(error)
            kiosks_done.set()
            raise

    kiosks = [threading.Thread(target=guarded, args=(kiosk, i)) for i in range(4)]
    staff = [threading.Thread(target=guarded, args=(window, w, i)) for i, w in enumerate(windows)]
    for thread in kiosks + staff:
        thread.start()
    for thread in kiosks:
        thread.join(60)
    kiosks_done.set()
    for thread in staff:
        thread.join(60)

    assert failures == [] and conflicts == Counter()
    assert len(issued) == len(set(issued)) == 240
    for line in "ABC":
        numbers = sorted(n for n in issued if n.startswith(line))
        assert numbers == [f"{line}{i:03d}" for i in range(1, len(numbers) + 1)]
    assert sorted(served) == sorted(issued)  # everyone served exactly once
    day = app.queue_today()
    for number in issued:
        assert calls[number] == 1 + len(day.tickets[number].transfers)
    figures = day.figures(datetime.now(UTC), app.layout()).lines
    assert sum(f.served for f in figures.values()) == 240
    assert sum(f.waiting + f.at_window for f in figures.values()) == 0


def test_commands_queued_behind_a_slow_save_are_saved_together_in_one():
    app = IntakeApplication()
    centre(app, {"W01": ("A",)})
    app.issue_ticket(IssueTicket("A"), GUIDE)  # the day exists; what follows are ticket events only
    save, saves = app.save, []
    first_entered, release = threading.Event(), threading.Event()

    def slow_first_save(*objects):
        saves.append(objects)
        if len(saves) == 1:
            first_entered.set()
            release.wait(5)  # hold the first group's transaction: the others queue behind it
        return save(*objects)

    app.save = slow_first_save  # type: ignore[method-assign]
    first = threading.Thread(target=app.issue_ticket, args=(IssueTicket("A"), GUIDE))
    first.start()
    assert first_entered.wait(5)
    others = [
        threading.Thread(target=app.issue_ticket, args=(IssueTicket("A"), GUIDE)) for _ in range(10)
    ]
    for thread in others:
        thread.start()
    writer = app._queue_day(app.today())
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while writer.queued < 10 and datetime.now(UTC) < deadline:
        time.sleep(0.01)  # a retrying wait: until all ten are queued
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert len(saves) == 2  # the first, then the ten queued behind it in one transaction
    assert sorted(app.queue_today().tickets) == [f"A{i:03d}" for i in range(1, 13)]


def test_a_command_that_breaks_is_answered_alone_and_the_rest_of_its_group_saved():
    app = IntakeApplication()
    centre(app, {"W01": ("A",)})
    app.issue_ticket(IssueTicket("A"), GUIDE)
    writer = app._queue_day(app.today())

    def half_done(queue, layout):
        queue.issue("A", layout, GUIDE)
        raise RuntimeError("a bug after an event was raised")

    with pytest.raises(RuntimeError):
        writer.run(half_done)
    assert (
        app.issue_ticket(IssueTicket("A"), GUIDE).number == "A002"
    )  # the half-done A002 was never saved
    assert sorted(app.queue_today().tickets) == ["A001", "A002"]


def test_another_process_saving_the_day_first_costs_a_reload_not_an_error():
    """What a second intake process on the same database does: it saves the day's events
    behind this process's writer. The writer's next save conflicts, reloads the day and
    applies the command again, so the window still gets the right visitor."""
    app = IntakeApplication()
    centre(app, {"W01": ("A",), "W02": ("A",)})
    app.issue_ticket(IssueTicket("A"), GUIDE)
    app.issue_ticket(IssueTicket("A"), GUIDE)
    app.queue_today()  # this process's writer holds the day in memory now
    elsewhere = app.repository.get(day_id(app.today()))
    assert elsewhere.call_next("W02", app.layout(), GUIDE).number == "A001"
    app.save(elsewhere)
    assert app.call_next(CallNext("W01"), GUIDE).number == "A002"
    assert app.issue_ticket(IssueTicket("A"), GUIDE).number == "A003"
    states = {n: (t.state, t.window) for n, t in app.queue_today().tickets.items()}
    assert states == {
        "A001": ("called", "W02"),
        "A002": ("called", "W01"),
        "A003": ("waiting", None),
    }


def test_a_window_sees_a_visitor_another_process_issued_though_it_had_nothing_to_save():
    """The window's process had nobody waiting in memory; a kiosk served by another intake
    process issued a ticket since. "Call next" saves nothing when nobody is waiting, so no
    conflict would tell the writer it is behind: it looks in the store before it answers."""
    app = IntakeApplication()
    centre(app, {"W01": ("A",)})
    assert app.call_next(CallNext("W01"), GUIDE) is None  # the writer holds the day now
    elsewhere = app.repository.get(day_id(app.today()))
    assert elsewhere.issue("A", app.layout(), GUIDE).number == "A001"
    app.save(elsewhere)
    called = app.call_next(CallNext("W01"), GUIDE)
    assert called is not None and called.number == "A001"
    assert app.queue_today().tickets["A001"].window == "W01"
