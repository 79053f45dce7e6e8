"""The queue at the centre (拿号、填表、等呼叫): service lines, windows, tickets, waiting times.

The layout (which lines exist, which windows serve them, which departments sit at each
window) is one aggregate changed by events. Each day's queue is another: every ticket of
the day lives in it, so two windows calling at once can never get the same ticket — the
second save conflicts and is retried on the new state.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from statistics import mean
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.domain import Actor, DomainError

MAX_DEPARTMENTS_PER_WINDOW = 2
"""Windows are shared by at most two units, as at the Guizhou provincial centre."""


class QueueError(DomainError):
    """A queue command that cannot be carried out as asked."""


DEFAULT_LINES = {
    "A": "综合接待 · general reception",
    "B": "劳动社保 · wages and social security",
    "C": "征拆住建 · demolition, housing and property",
    "D": "法律服务 · legal aid and mediation",
}
DEFAULT_WINDOWS = {
    "W01": (["guide-desk"], ["A"]),
    "W02": (["ninghe-hrss", "qiaocheng-hrss"], ["B", "A"]),
    "W03": (["ninghe-housing", "qiaocheng-housing"], ["C"]),
    "W04": (["legal-aid", "mediation-committee"], ["D", "A"]),
}
"""The layout a new centre starts with; an admin changes it through the API."""

LAYOUT_ID = uuid5(NAMESPACE_URL, "onestop:intake:queue-layout")


def day_id(day: date) -> UUID:
    return uuid5(NAMESPACE_URL, f"onestop:intake:queue:{day.isoformat()}")


class QueueLayout(Aggregate):
    """The service lines visitors take tickets for, and the windows that call them."""

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
            layout.windows[self.code] = {"departments": self.departments, "lines": self.lines}

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.windows: dict[str, dict[str, list[str]]] = {}

    @classmethod
    def start(cls) -> QueueLayout:
        return cls._create(cls.Started, id=LAYOUT_ID)

    def define_line(self, code: str, name: str, actor: Actor) -> None:
        """A line's code is the letter its tickets start with (A001, A002…)."""
        if not re.fullmatch(r"[A-Z]", code):
            raise QueueError("a line's code is one capital letter", field="code")
        if not name.strip():
            raise QueueError("a line needs a name", field="name")
        if self.lines.get(code) != name.strip():
            self.trigger_event(
                self.LineDefined, code=code, name=name.strip(), actor=actor.as_dict()
            )

    def define_window(
        self, code: str, departments: list[str], lines: list[str], actor: Actor
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9\-]{1,10}", code):
            raise QueueError("a window's code is 1–10 letters, digits or '-'", field="code")
        if not 1 <= len(departments) <= MAX_DEPARTMENTS_PER_WINDOW:
            raise QueueError(
                f"a window is staffed by one or at most {MAX_DEPARTMENTS_PER_WINDOW} departments",
                field="departments",
            )
        if len(set(departments)) != len(departments):
            raise QueueError("a department is named twice", field="departments")
        unknown = [line for line in lines if line not in self.lines]
        if not lines or unknown:
            raise QueueError(
                f"a window serves known lines; unknown: {', '.join(unknown) or '(none given)'}",
                field="lines",
            )
        if self.windows.get(code) != {"departments": departments, "lines": lines}:
            self.trigger_event(
                self.WindowDefined,
                code=code,
                departments=departments,
                lines=lines,
                actor=actor.as_dict(),
            )


class QueueDay(Aggregate):
    """One day's tickets at the centre, from issue to call, transfer and service."""

    class Opened(Aggregate.Created):
        day: str

        def apply(self, queue: QueueDay) -> None:
            queue.day = self.day

    class TicketIssued(Aggregate.Event):
        number: str
        line: str
        issued_by: str

        def apply(self, queue: QueueDay) -> None:
            queue.tickets[self.number] = {
                "number": self.number,
                "line": self.line,
                "issued_at": self.timestamp,
                "state": "waiting",
                "window": None,
                "for_window": None,
                "first_called_at": None,
                "called_at": None,
                "finished_at": None,
                "transfers": [],
            }

    class TicketCalled(Aggregate.Event):
        number: str
        window: str
        called_by: str

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            ticket.update(state="called", window=self.window, for_window=None)
            ticket["called_at"] = self.timestamp
            ticket["first_called_at"] = ticket["first_called_at"] or self.timestamp

    class TicketTransferred(Aggregate.Event):
        number: str
        from_window: str
        to_window: str
        reason: str
        transferred_by: str

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            ticket.update(state="waiting", window=None, for_window=self.to_window)
            ticket["transfers"].append(
                {"from": self.from_window, "to": self.to_window, "reason": self.reason}
            )

    class TicketFinished(Aggregate.Event):
        number: str
        outcome: str  # "served" or "no-show"
        case_id: str | None

        def apply(self, queue: QueueDay) -> None:
            ticket = queue.tickets[self.number]
            ticket.update(state=self.outcome, finished_at=self.timestamp, case_id=self.case_id)

    def __init__(self) -> None:
        self.day = ""
        self.tickets: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, day: date) -> QueueDay:
        return cls._create(cls.Opened, id=day_id(day), day=day.isoformat())

    def issue(self, line: str, layout: QueueLayout, issued_by: Actor) -> dict[str, Any]:
        """A visitor takes a ticket for a line; numbers run per line through the day."""
        if line not in layout.lines:
            known = ", ".join(sorted(layout.lines)) or "none yet"
            raise QueueError(f"unknown line {line!r}; lines: {known}", field="line")
        taken = sum(1 for t in self.tickets.values() if t["line"] == line)
        number = f"{line}{taken + 1:03d}"
        self.trigger_event(self.TicketIssued, number=number, line=line, issued_by=issued_by.user)
        return self.tickets[number]

    def call_next(
        self, window: str, layout: QueueLayout, called_by: Actor
    ) -> dict[str, Any] | None:
        """The window calls its next visitor: tickets transferred to it first, then the
        longest-waiting ticket of the lines it serves. Whoever it was serving is done."""
        self._window(window, layout)
        current = self.current(window)
        if current:
            self.finish(current["number"], "served")
        waiting = [t for t in self.tickets.values() if t["state"] == "waiting"]
        mine = [t for t in waiting if t["for_window"] == window]
        serves = layout.windows[window]["lines"]
        mine = mine or [t for t in waiting if t["for_window"] is None and t["line"] in serves]
        if not mine:
            return None
        ticket = min(mine, key=lambda t: t["issued_at"])
        self.trigger_event(
            self.TicketCalled, number=ticket["number"], window=window, called_by=called_by.user
        )
        return self.tickets[ticket["number"]]

    def transfer(
        self, number: str, to_window: str, reason: str, layout: QueueLayout, actor: Actor
    ) -> None:
        """The visitor belongs at another window: they keep their place (first in its queue)."""
        ticket = self._ticket(number)
        self._window(to_window, layout)
        if ticket["state"] != "called":
            raise QueueError(f"ticket {number} is not at a window now", field="number")
        if ticket["window"] == to_window:
            raise QueueError(f"ticket {number} is already at window {to_window}", "to_window")
        if not reason.strip():
            raise QueueError("say why the visitor is sent to another window", field="reason")
        self.trigger_event(
            self.TicketTransferred,
            number=number,
            from_window=ticket["window"],
            to_window=to_window,
            reason=reason.strip(),
            transferred_by=actor.user,
        )

    def finish(self, number: str, outcome: str, case_id: str | None = None) -> None:
        ticket = self._ticket(number)
        if outcome not in ("served", "no-show"):
            raise QueueError("a ticket ends served or no-show", field="outcome")
        if ticket["state"] != "called":
            raise QueueError(f"ticket {number} is not at a window now", field="number")
        self.trigger_event(self.TicketFinished, number=number, outcome=outcome, case_id=case_id)

    def current(self, window: str) -> dict[str, Any] | None:
        return next(
            (t for t in self.tickets.values() if t["state"] == "called" and t["window"] == window),
            None,
        )

    def figures(self, now: datetime, layout: QueueLayout) -> dict[str, Any]:
        """Per line: how many wait, how long the called waited (mean, longest), and the
        longest wait of anyone still waiting — in seconds."""
        lines = {}
        for code, name in sorted(layout.lines.items()):
            tickets = [t for t in self.tickets.values() if t["line"] == code]
            waits = [
                (t["first_called_at"] - t["issued_at"]).total_seconds()
                for t in tickets
                if t["first_called_at"]
            ]
            waiting = [t for t in tickets if t["state"] == "waiting"]
            lines[code] = {
                "name": name,
                "issued": len(tickets),
                "waiting": len(waiting),
                "served": sum(1 for t in tickets if t["state"] == "served"),
                "no_show": sum(1 for t in tickets if t["state"] == "no-show"),
                "mean_wait_seconds": round(mean(waits), 1) if waits else None,
                "longest_wait_seconds": round(max(waits), 1) if waits else None,
                "longest_waiting_now_seconds": round(
                    max((now - t["issued_at"]).total_seconds() for t in waiting), 1
                )
                if waiting
                else None,
            }
        return {"day": self.day, "lines": lines}

    def _ticket(self, number: str) -> dict[str, Any]:
        if number not in self.tickets:
            raise QueueError(f"no ticket {number} today", field="number")
        return self.tickets[number]

    @staticmethod
    def _window(window: str, layout: QueueLayout) -> None:
        if window not in layout.windows:
            known = ", ".join(sorted(layout.windows)) or "none yet"
            raise QueueError(f"unknown window {window!r}; windows: {known}", field="window")
