"""The queue at the centre (拿号、填表、等呼叫): service lines, windows, tickets, waiting times.

**The layout** — which lines exist, which windows call them, which departments sit at each
window — is the centre's territory (routing's registry, which intake replicates): an admin
defines lines and windows there, once, for every service. The day's queue reads a
`Layout`, nothing but lines (code → name) and windows (code → `Window`: its departments and
the lines it calls), read once per group of commands as an unchanging `LayoutView`.
(`QueueLayout`, intake's own layout of earlier releases, is kept only so that its stored
events still load.)

**One day's queue** is one aggregate, `QueueDay`: every ticket of the day lives in it, so a
number is never issued twice or skipped, and two windows never get the same visitor. That
makes it the one thing every kiosk and every window changes at once in a rush (27 windows,
4 kiosks, some 600 visitors a day at the Guizhou provincial centre). Rather than let those
commands race for the day's version and retry the losers, the day has ONE writer in the
process (`shared.batching.SingleWriter`, used by the application):

- A command for the day is queued, and whichever request thread holds the day's lock
  applies every queued command, in arrival order, to a twin of the saved `QueueDay`
  (`fork`), then saves all their events in one transaction (a group commit); the twin is
  then the saved state. No two saves of the day ever race inside a process, so there is
  nothing to retry. A refused command (an unknown line, a ticket not at a window) raises
  no event and the rest of its group goes on.
- Readers never touch an aggregate. Tickets are immutable values (`Ticket`) that each
  event replaces, so a reader's `DayView` is a copy of the ticket map taken under the lock
  (and so is a fork): consistent, and unchanged by whatever the writer applies next.
- Two processes may still write the same day (two intake processes on one database). Then
  one's save meets a stored version the other moved on: that writer brings its saved day
  up to date from the store and applies the same commands again before anyone is
  answered. Readers catch up with the store before they look, and so does a group that
  saved nothing ("nobody waiting" must not come from a stale day).

The day is the centre's local date (`Settings.timezone`), not the UTC date: the 07:30
rush in Beijing belongs to that Beijing day, and numbering starts again at A001 at local
midnight.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from statistics import mean
from types import MappingProxyType
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.domain import Actor, DomainError
from shared.territory import Territory


class QueueError(DomainError):
    """A queue command that cannot be carried out as asked."""


@dataclass(frozen=True)
class Window:
    """A window as the queue sees it: who sits there and which lines it calls, in order."""

    departments: tuple[str, ...]
    lines: tuple[str, ...]


class Layout(Protocol):
    """What the day's queue reads of the centre's layout, wherever the layout comes from."""

    @property
    def lines(self) -> Mapping[str, str]:
        """Line code (the ticket letter) → the line's name."""
        ...

    @property
    def windows(self) -> Mapping[str, Window]:
        """Window code → its departments and the lines it serves."""
        ...


@dataclass(frozen=True)
class LayoutView:
    """An unchanging copy of a layout, for readers and commands in other threads."""

    lines: Mapping[str, str]
    windows: Mapping[str, Window]

    @classmethod
    def of(cls, layout: Layout) -> LayoutView:
        return cls(MappingProxyType(dict(layout.lines)), MappingProxyType(dict(layout.windows)))


NO_LAYOUT = LayoutView(MappingProxyType({}), MappingProxyType({}))
"""A centre that has defined no lines or windows yet."""


def layout_of(territory: Territory) -> LayoutView:
    """The territory's active lines and windows, as the queue reads them."""
    lines = {c: line.name for c, line in territory.lines.items() if line.active}
    windows = {
        c: Window(w.departments, tuple(x for x in w.lines if x in lines))
        for c, w in territory.windows.items()
        if w.active
    }
    return LayoutView(MappingProxyType(lines), MappingProxyType(windows))


LAYOUT_ID = uuid5(NAMESPACE_URL, "onestop:intake:queue-layout")


def day_id(day: date) -> UUID:
    return uuid5(NAMESPACE_URL, f"onestop:intake:queue:{day.isoformat()}")


class QueueLayout(Aggregate):
    """Intake's own lines and windows in earlier releases; the territory's now. Kept so that
    its stored events still load; nothing records new ones."""

    class Started(Aggregate.Created):
        pass

    class LineDefined(Aggregate.Event):
        code: str
        name: str
        actor: dict[str, Any]

        def apply(self, layout: QueueLayout) -> None:
            layout.lines[self.code] = self.name

    class WindowDefined(Aggregate.Event):
        code: str
        departments: list[str]
        lines: list[str]
        actor: dict[str, Any]

        def apply(self, layout: QueueLayout) -> None:
            layout.windows[self.code] = Window(tuple(self.departments), tuple(self.lines))

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.windows: dict[str, Window] = {}

    @classmethod
    def start(cls) -> QueueLayout:
        return cls._create(cls.Started, id=LAYOUT_ID)


@dataclass(frozen=True)
class Transfer:
    """A visitor sent on from one window to another, and why."""

    from_window: str
    to_window: str
    reason: str


class TicketState(StrEnum):
    """Where a visitor is: waiting, called to a window, and at last served or not come."""

    WAITING = "waiting"
    CALLED = "called"
    SERVED = "served"
    NO_SHOW = "no-show"


ENDINGS = (TicketState.SERVED, TicketState.NO_SHOW)
"""How a ticket ends."""


@dataclass(frozen=True)
class Ticket:
    """A visitor's place for the day. Each event replaces it with a new value, so whoever
    holds one (a reader, an answer being written) holds a state it really had."""

    number: str
    line: str
    position: int
    """Its place in the day's issue order: who has waited longest."""
    issued_at: datetime
    state: TicketState = TicketState.WAITING
    window: str | None = None
    for_window: str | None = None
    """The window it was transferred to, which calls it before anyone else."""
    first_called_at: datetime | None = None
    called_at: datetime | None = None
    finished_at: datetime | None = None
    case_id: str | None = None
    transfers: tuple[Transfer, ...] = ()


@dataclass(frozen=True)
class LineFigures:
    """One line's day so far; waits in seconds."""

    name: str
    issued: int
    waiting: int
    at_window: int
    served: int
    no_show: int
    transfers: int
    mean_wait_seconds: float | None
    """How long the called waited before their first call, on average."""
    longest_wait_seconds: float | None
    longest_waiting_now_seconds: float | None
    """How long the longest-waiting visitor still waiting has waited."""


@dataclass(frozen=True)
class Figures:
    """The day's waiting figures, per line."""

    day: str
    lines: dict[str, LineFigures]


@dataclass(frozen=True)
class DayView:
    """The day's queue as it stood after a save: what readers get, never the aggregate."""

    day: str
    version: int
    tickets: Mapping[str, Ticket]

    def figures(self, now: datetime, layout: Layout) -> Figures:
        """Per line: how many wait, how long the called waited (mean, longest), and the
        longest wait of anyone still waiting — in seconds."""
        lines = {}
        for code, name in sorted(layout.lines.items()):
            tickets = [t for t in self.tickets.values() if t.line == code]
            waits = [
                (t.first_called_at - t.issued_at).total_seconds()
                for t in tickets
                if t.first_called_at
            ]
            waiting = [t for t in tickets if t.state is TicketState.WAITING]
            lines[code] = LineFigures(
                name=name,
                issued=len(tickets),
                waiting=len(waiting),
                at_window=sum(1 for t in tickets if t.state is TicketState.CALLED),
                served=sum(1 for t in tickets if t.state is TicketState.SERVED),
                no_show=sum(1 for t in tickets if t.state is TicketState.NO_SHOW),
                transfers=sum(len(t.transfers) for t in tickets),
                mean_wait_seconds=round(mean(waits), 1) if waits else None,
                longest_wait_seconds=round(max(waits), 1) if waits else None,
                longest_waiting_now_seconds=round(
                    max((now - t.issued_at).total_seconds() for t in waiting), 1
                )
                if waiting
                else None,
            )
        return Figures(self.day, lines)


class QueueDay(Aggregate):
    """One day's tickets at the centre, from issue to call, transfer and service.

    Every command checks everything before it raises an event, so a refused command leaves
    the day as it was (the single writer relies on this to go on with the next command).
    """

    class Opened(Aggregate.Created):
        day: str

        def apply(self, queue: QueueDay) -> None:
            queue.day = self.day

    class TicketIssued(Aggregate.Event):
        number: str
        line: str
        issued_by: str

        def apply(self, queue: QueueDay) -> None:
            queue.tickets[self.number] = Ticket(
                self.number, self.line, len(queue.tickets), self.timestamp
            )
            queue.issued[self.line] = queue.issued.get(self.line, 0) + 1
            queue.waiting[self.number] = None

    class TicketCalled(Aggregate.Event):
        number: str
        window: str
        called_by: str

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            queue.tickets[self.number] = replace(
                ticket,
                state=TicketState.CALLED,
                window=self.window,
                for_window=None,
                called_at=self.timestamp,
                first_called_at=ticket.first_called_at or self.timestamp,
            )
            queue.waiting.pop(self.number, None)
            queue.at_window[self.window] = self.number

    class TicketTransferred(Aggregate.Event):
        number: str
        from_window: str
        to_window: str
        reason: str
        transferred_by: str

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            queue.tickets[self.number] = replace(
                ticket,
                state=TicketState.WAITING,
                window=None,
                for_window=self.to_window,
                transfers=(
                    *ticket.transfers,
                    Transfer(self.from_window, self.to_window, self.reason),
                ),
            )
            queue.waiting[self.number] = None
            if queue.at_window.get(self.from_window) == self.number:
                del queue.at_window[self.from_window]

    class TicketFinished(Aggregate.Event):
        number: str
        outcome: TicketState
        """One of `ENDINGS`."""
        case_id: str | None

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            queue.tickets[self.number] = replace(
                ticket, state=self.outcome, finished_at=self.timestamp, case_id=self.case_id
            )
            if ticket.window and queue.at_window.get(ticket.window) == self.number:
                del queue.at_window[ticket.window]

    def __init__(self) -> None:
        self.day = ""
        self.tickets: dict[str, Ticket] = {}
        self.issued: dict[str, int] = {}
        """Tickets issued per line today: the next number follows on."""
        self.waiting: dict[str, None] = {}
        """Numbers of waiting tickets. Those never called are in issue order."""
        self.at_window: dict[str, str] = {}
        """Window → the number of the visitor it is serving now."""

    @classmethod
    def open(cls, day: date) -> QueueDay:
        return cls._create(cls.Opened, id=day_id(day), day=day.isoformat())

    def fork(self) -> QueueDay:
        """A twin to apply the next commands to while this one stays as saved. Cheap, because
        tickets are immutable: only the maps that hold them are copied."""
        twin = copy(self)
        # its own list of unsaved events, as eventsourcing itself gives a rebuilt aggregate
        vars(twin)["_pending_events"] = list(self.pending_events)
        twin.tickets = dict(self.tickets)
        twin.issued = dict(self.issued)
        twin.waiting = dict(self.waiting)
        twin.at_window = dict(self.at_window)
        return twin

    def view(self) -> DayView:
        return DayView(self.day, self.version, MappingProxyType(dict(self.tickets)))

    def issue(self, line: str, layout: Layout, issued_by: Actor) -> Ticket:
        """A visitor takes a ticket for a line; numbers run per line through the day."""
        if line not in layout.lines:
            known = ", ".join(sorted(layout.lines)) or "none yet"
            raise QueueError(f"unknown line {line!r}; lines: {known}", field="line")
        number = f"{line}{self.issued.get(line, 0) + 1:03d}"
        self.trigger_event(self.TicketIssued, number=number, line=line, issued_by=issued_by.user)
        return self.tickets[number]

    def call_next(self, window: str, layout: Layout, called_by: Actor) -> Ticket | None:
        """The window calls its next visitor: tickets transferred to it first, then the
        longest-waiting ticket of the lines it serves. Whoever it was serving is done."""
        serves = self._window(window, layout).lines
        current = self.current(window)
        if current:
            self.finish(current.number, TicketState.SERVED)
        ticket = self._next_for(window, serves)
        if ticket is None:
            return None
        self.trigger_event(
            self.TicketCalled, number=ticket.number, window=window, called_by=called_by.user
        )
        return self.tickets[ticket.number]

    def _next_for(self, window: str, serves: tuple[str, ...]) -> Ticket | None:
        waiting = [self.tickets[number] for number in self.waiting]
        sent_here = [t for t in waiting if t.for_window == window]
        if sent_here:
            return min(sent_here, key=lambda t: t.position)
        return next((t for t in waiting if t.for_window is None and t.line in serves), None)

    def transfer(
        self, number: str, to_window: str, reason: str, layout: Layout, actor: Actor
    ) -> Ticket:
        """The visitor belongs at another window: they keep their place (first in its queue)."""
        ticket = self._ticket(number)
        self._window(to_window, layout)
        if ticket.state is not TicketState.CALLED or ticket.window is None:
            raise QueueError(f"ticket {number} is not at a window now", field="number")
        if ticket.window == to_window:
            raise QueueError(f"ticket {number} is already at window {to_window}", "to_window")
        if not reason.strip():
            raise QueueError("say why the visitor is sent to another window", field="reason")
        self.trigger_event(
            self.TicketTransferred,
            number=number,
            from_window=ticket.window,
            to_window=to_window,
            reason=reason.strip(),
            transferred_by=actor.user,
        )
        return self.tickets[number]

    def finish(self, number: str, outcome: TicketState, case_id: str | None = None) -> Ticket:
        ticket = self._ticket(number)
        if outcome not in ENDINGS:
            raise QueueError("a ticket ends served or no-show", field="outcome")
        if ticket.state is not TicketState.CALLED:
            raise QueueError(f"ticket {number} is not at a window now", field="number")
        self.trigger_event(self.TicketFinished, number=number, outcome=outcome, case_id=case_id)
        return self.tickets[number]

    def current(self, window: str) -> Ticket | None:
        number = self.at_window.get(window)
        return self.tickets[number] if number else None

    def _ticket(self, number: str) -> Ticket:
        if number not in self.tickets:
            raise QueueError(f"no ticket {number} today", field="number")
        return self.tickets[number]

    @staticmethod
    def _window(window: str, layout: Layout) -> Window:
        if window not in layout.windows:
            known = ", ".join(sorted(layout.windows)) or "none yet"
            raise QueueError(f"unknown window {window!r}; windows: {known}", field="window")
        return layout.windows[window]
