"""The clocks of a case: its deadlines from the policy, reminders before them, breaches
and the supervision notices they bring, pauses and extensions.

Every deadline's times are computed once, when its clock starts, and stored in the event,
so a replay never depends on the calendar or the policy of the day it is replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate

from services.followup.domain.errors import FollowUpRefused
from services.followup.domain.stored import record, records, revived
from services.followup.domain.vocabulary import (
    DeadlineKind,
    DeadlineState,
    Milestone,
    Responsible,
    Status,
)
from shared.calendar import Period, WorkCalendar, local_minute
from shared.domain import Actor, Attributed, Trace, attribution

if TYPE_CHECKING:  # the domain reads a policy; the policy is data written in the domain's words
    from services.followup.domain.case import Closure, Finality, Unit
    from services.followup.policy import Policy


@dataclass(frozen=True)
class Rules:
    """What a case's clocks follow: the locality's deadline policy and its work calendar."""

    policy: Policy
    calendar: WorkCalendar


SUPERVISION_OFFICE = "supervision-office"


@dataclass(frozen=True)
class Extension:
    """An approved extension of a deadline (Art. 34), or the date a leader-approved long-term
    plan gives the resolution: for how long, why, by whom, and the due time it replaced."""

    period: str
    reason: str
    approved_by: str
    previous_due: datetime
    at: datetime


@dataclass(frozen=True)
class Deadline:
    """One clock of a case: when it started and runs out, by which rule and who answers for
    it, and what became of it since (met, reminded, breached, paused, extended, superseded).

    `id` is None only in deadlines scheduled before deadlines had ids (≤ 2026-11-21): the
    case numbers those as it schedules them. `escalates` is None in those stored before it
    was recorded, `paused_seconds` until a pause of the clock ended.
    """

    kind: DeadlineKind
    starts_at: datetime
    due_at: datetime
    rule: str
    legal_basis: str
    id: str | None = None
    starts_on: Milestone | None = None
    remind_at: datetime | None = None
    period: str | None = None
    responsible_role: Responsible | None = None
    responsible: str | None = None
    department: str | None = None
    escalates: bool | None = None
    met_at: datetime | None = None
    superseded_at: datetime | None = None
    reminded_at: datetime | None = None
    breached_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: int | None = None
    extended: Extension | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> Deadline:
        """A deadline as releases before value objects stored it: a JSON object of these
        fields, an extension's replaced due time under `from`."""
        found = dict(fields)
        if found.get("extended") is not None:
            extended = record(found["extended"])
            found["extended"] = {
                ("previous_due" if name == "from" else name): value
                for name, value in extended.items()
            }
        return revived(cls, found)

    @property
    def key(self) -> str:
        """Its id within the case (`resolution#2`)."""
        return self.id or self.kind.value

    @property
    def running(self) -> bool:
        """Still to be met (a breached one included)."""
        return self.met_at is None and self.superseded_at is None

    def state_at(self, now: datetime) -> DeadlineState:
        if self.met_at is not None and self.met_at <= now:
            return DeadlineState.MET_LATE if self.met_at > self.due_at else DeadlineState.MET
        if self.superseded_at is not None:
            return DeadlineState.SUPERSEDED
        if self.paused_at is not None:
            return DeadlineState.PAUSED
        return DeadlineState.OVERDUE if now > self.due_at else DeadlineState.OPEN

    @property
    def next_alarm(self) -> datetime | None:
        """When its reminder or its breach falls due, if either still will. A reminder that
        never went out because the breach came first (the service was down over both) is
        not due any more: `fire` sends no reminder for a deadline already missed, and a
        case kept due for it would be looked at every second, for ever."""
        if not self.running or self.paused_at is not None or self.breached_at is not None:
            return None
        if self.remind_at and self.reminded_at is None and self.remind_at < self.due_at:
            return self.remind_at
        return self.due_at

    def breach_due(self, now: datetime) -> bool:
        return self.due_at <= now and self.breached_at is None

    def reminder_due(self, now: datetime) -> bool:
        return (
            self.remind_at is not None
            and self.remind_at <= now < self.due_at
            and self.reminded_at is None
        )

    def resumed(self, after: timedelta) -> Deadline:
        """Running again after a pause of `after`: its times move on by as much."""
        return replace(
            self,
            due_at=self.due_at + after,
            remind_at=self.remind_at + after if self.remind_at else None,
            paused_at=None,
            paused_seconds=(self.paused_seconds or 0) + int(after.total_seconds()),
        )


@dataclass(frozen=True)
class Pause:
    """The case's clocks stopped for a hearing (听证) or the like: which, why, since when."""

    ids: tuple[str, ...]
    reason: str
    since: datetime


@dataclass(frozen=True)
class SupervisionNotice:
    """督办 — a written notice to a department to act, numbered within the case: issued by
    the supervision office, or by follow-up itself when a deadline is breached."""

    number: int
    department: str | None
    text: str
    deadline_id: str | None
    automatic: bool
    by: str
    at: datetime


def _deadlines_from_fields(state: MutableMapping[str, object], name: str) -> None:
    state[name] = [Deadline.from_fields(d) for d in records(state[name])]


class CaseClocks(Aggregate):
    """The clocks one case carries (see the module docstring). `FollowUpCase` is a case
    with its clocks; its handling raises the milestones that start and stop them.

    Never stored by itself: eventsourcing redefines these event classes on `FollowUpCase`,
    so they are stored and mapped as `FollowUpCase.DeadlinesScheduled` and so on.
    """

    if TYPE_CHECKING:  # facts of the case the clocks read; FollowUpCase keeps them
        lead: Unit | None
        first_receiver: str | None
        major: bool
        final: Finality | None
        closed_out: Closure | None

        @property
        def status(self) -> Status: ...

    class DeadlinesScheduled(Attributed):
        class_version = 2
        deadlines: list[Deadline]

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored each deadline as a JSON object of its fields."""
            _deadlines_from_fields(state, "deadlines")

        def apply(self, case: CaseClocks) -> None:
            for deadline in self.deadlines:
                if deadline.id is None:  # scheduled before deadlines had ids (≤ 2026-11-21)
                    same = sum(1 for d in case.deadlines if d.kind == deadline.kind)
                    deadline = replace(deadline, id=f"{deadline.kind.value}#{same + 1}")
                case.deadlines.append(deadline)

    class DeadlinesMet(Attributed):
        ids: list[str]
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case._change(self.ids, lambda d: replace(d, met_at=self.at))

    class DeadlinesSuperseded(Attributed):
        ids: list[str]
        at: datetime
        reason: str

        def apply(self, case: CaseClocks) -> None:
            case._change(self.ids, lambda d: replace(d, superseded_at=self.at))

    class ReminderSent(Attributed):
        class_version = 2
        deadline: Deadline  # as it stood: the wire tells whom, what and by when
        at: datetime

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored the deadline as a JSON object of its fields."""
            state["deadline"] = Deadline.from_fields(record(state["deadline"]))

        def apply(self, case: CaseClocks) -> None:
            case._change([self.deadline.key], lambda d: replace(d, reminded_at=self.at))

    class DeadlineBreached(Attributed):
        class_version = 2
        deadline: Deadline
        at: datetime

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored the deadline as a JSON object of its fields."""
            state["deadline"] = Deadline.from_fields(record(state["deadline"]))

        def apply(self, case: CaseClocks) -> None:
            case._change([self.deadline.key], lambda d: replace(d, breached_at=self.at))

    class SupervisionNoticeIssued(Attributed):
        number: int
        department: str | None
        text: str
        deadline_id: str | None
        automatic: bool
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case.notices.append(
                SupervisionNotice(
                    number=self.number,
                    department=self.department,
                    text=self.text,
                    deadline_id=self.deadline_id,
                    automatic=self.automatic,
                    by=self.actor["user"],
                    at=self.at,
                )
            )

    class ClocksPaused(Attributed):
        ids: list[str]
        reason: str
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case.pause = Pause(tuple(self.ids), self.reason, self.at)
            case._change(self.ids, lambda d: replace(d, paused_at=self.at))

    class ClocksResumed(Attributed):
        class_version = 2
        deadlines: list[Deadline]  # each as it runs on, its times moved
        paused_seconds: int
        at: datetime

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored each deadline as a JSON object of its fields."""
            _deadlines_from_fields(state, "deadlines")

        def apply(self, case: CaseClocks) -> None:
            case.pause = None
            moved = {d.key: d for d in self.deadlines}
            case._change(list(moved), lambda d: moved[d.key])

    class ExtensionGranted(Attributed):
        deadline_id: str
        period: str
        reason: str
        approved_by: str
        due_at: datetime
        remind_at: datetime | None
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case._change(
                [self.deadline_id],
                lambda d: replace(
                    d,
                    extended=Extension(
                        self.period, self.reason, self.approved_by, d.due_at, self.at
                    ),
                    due_at=self.due_at,
                    remind_at=self.remind_at,
                ),
            )

    def __init__(self) -> None:
        self.deadlines: list[Deadline] = []
        self.notices: list[SupervisionNotice] = []
        self.pause: Pause | None = None

    # --- the clocks now ---------------------------------------------------------------------

    def _change(self, ids: Iterable[str], change: Callable[[Deadline], Deadline]) -> None:
        """Each deadline of these ids as `change` makes it."""
        wanted = set(ids)
        self.deadlines = [change(d) if d.key in wanted else d for d in self.deadlines]

    def _by_id(self, ids: Iterable[str]) -> list[Deadline]:
        wanted = set(ids)
        return [d for d in self.deadlines if d.key in wanted]

    def running(self, kinds: tuple[DeadlineKind, ...] | None = None) -> list[Deadline]:
        """Deadlines still to be met (breached ones included), optionally of some kinds."""
        return [d for d in self.deadlines if d.running and (kinds is None or d.kind in kinds)]

    def next_alarm(self) -> datetime | None:
        """The next moment a reminder or a breach of a running clock falls due."""
        moments = [at for at in (d.next_alarm for d in self.deadlines) if at is not None]
        return min(moments, default=None)

    # --- commands on the clocks ------------------------------------------------------------

    def pause_clocks(self, reason: str, actor: Actor, trace: Trace, at: datetime) -> None:
        """Hearings and the like: running clocks stop until resumed."""
        if self.pause:
            raise FollowUpRefused("the clocks are already paused", field="case_id")
        running = [d for d in self.running() if d.paused_at is None]
        if not running:
            raise FollowUpRefused("no clock of the case is running", field="case_id")
        self.trigger_event(
            self.ClocksPaused,
            ids=[d.key for d in running],
            reason=reason,
            at=at,
            **attribution(actor, trace),
        )

    def resume_clocks(self, actor: Actor, trace: Trace, at: datetime) -> None:
        if not self.pause:
            raise FollowUpRefused("the clocks are not paused", field="case_id")
        paused = at - self.pause.since
        self.trigger_event(
            self.ClocksResumed,
            deadlines=[d.resumed(paused) for d in self._by_id(self.pause.ids)],
            paused_seconds=int(paused.total_seconds()),
            at=at,
            **attribution(actor, trace),
        )

    def extend(
        self,
        kind: DeadlineKind,
        days: int,
        reason: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """One approved extension of a clock the policy lets be extended (Art. 34)."""
        clock = rules.policy.clock(kind)
        if clock is None or clock.extension is None:
            raise FollowUpRefused(f"the {kind} deadline cannot be extended", field="kind")
        running = self.running((kind,))
        if not running:
            raise FollowUpRefused(f"the case has no running {kind} deadline", field="kind")
        deadline = running[0]
        if deadline.extended:
            raise FollowUpRefused(f"the {kind} deadline was already extended once", field="days")
        if not 0 < days <= clock.extension.amount:
            raise FollowUpRefused(f"an extension is at most {clock.extension}", field="days")
        if at > deadline.due_at:
            raise FollowUpRefused("the deadline has already passed", field="kind")
        new_due = deadline.due_at + timedelta(days=days)
        self._extend(deadline, new_due, reason, actor, trace, at, rules, f"{days} days")

    def _extend(
        self,
        deadline: Deadline,
        due: datetime,
        reason: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
        period: str | None = None,
    ) -> None:
        clock = rules.policy.clock(deadline.kind)
        before = clock.remind_before if clock else None
        self.trigger_event(
            self.ExtensionGranted,
            deadline_id=deadline.key,
            period=period or f"until {due.date().isoformat()}",
            reason=reason,
            approved_by=actor.user,
            due_at=due,
            remind_at=self._remind_at(due, before),
            at=at,
            **attribution(actor, trace),
        )

    def issue_supervision_notice(
        self,
        text: str,
        department: str | None,
        actor: Actor,
        trace: Trace,
        at: datetime,
        deadline_id: str | None = None,
        automatic: bool = False,
    ) -> None:
        """A notice to a department to act, by the supervision office or on a breach by
        follow-up itself."""
        if self.final or self.closed_out:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        target = department or (self.lead.code if self.lead else None)
        if target is None:
            raise FollowUpRefused(
                "name the department: the case has no lead yet", field="department"
            )
        self.trigger_event(
            self.SupervisionNoticeIssued,
            number=len(self.notices) + 1,
            department=target,
            text=text,
            deadline_id=deadline_id,
            automatic=automatic,
            at=at,
            **attribution(actor, trace),
        )

    def fire(self, now: datetime, trace: Trace) -> int:
        """Send the reminders and report the breaches that are due by `now`; each at most
        once, however often this is called. Returns how many fired."""
        fired = 0
        actor = Actor.service("followup")
        for d in self.running():
            if d.paused_at is not None:
                continue
            if d.breach_due(now):
                self.trigger_event(
                    self.DeadlineBreached, deadline=d, at=now, **attribution(actor, trace)
                )
                fired += 1
                if d.responsible_role is Responsible.LEAD:
                    self.issue_supervision_notice(
                        f"{d.kind} was due {local_minute(d.due_at)} and is not met: {d.rule}",
                        d.department,
                        actor,
                        trace,
                        now,
                        deadline_id=d.id,
                        automatic=True,
                    )
            elif d.reminder_due(now):
                self.trigger_event(
                    self.ReminderSent, deadline=d, at=now, **attribution(actor, trace)
                )
                fired += 1
        return fired

    # --- clocks from the policy -------------------------------------------------------------

    def _milestone(
        self,
        milestone: Milestone,
        at: datetime,
        actor: Actor,
        trace: Trace,
        rules: Rules,
        responsible: str | None = None,
    ) -> None:
        """What reaching `milestone` means for the clocks: those it stops are met (a
        recurring one starts again), those it starts are scheduled."""
        met: list[Deadline] = []
        again: list[DeadlineKind] = []
        for d in self.running():
            clock = rules.policy.clock(d.kind)
            if clock and milestone in clock.stops_on:
                met.append(d)
                if clock.recurring:
                    again.append(d.kind)
        if met:
            self.trigger_event(
                self.DeadlinesMet, ids=[d.key for d in met], at=at, **attribution(actor, trace)
            )
        self._schedule(milestone, at, trace, rules, actor=actor, responsible=responsible)
        for kind in again:
            self._schedule(Milestone.LONG_TERM_PLAN, at, trace, rules, only=(kind,), actor=actor)

    def _supersede(
        self,
        deadlines: list[Deadline],
        at: datetime,
        reason: str,
        trace: Trace,
        actor: Actor | None = None,
    ) -> None:
        if deadlines:
            self.trigger_event(
                self.DeadlinesSuperseded,
                ids=[d.key for d in deadlines],
                at=at,
                reason=reason,
                **attribution(actor or Actor.service("followup"), trace),
            )

    @staticmethod
    def _remind_at(due: datetime, before: Period | None) -> datetime | None:
        if before is None:
            return None
        if before.unit == "hours":
            return due - timedelta(hours=before.amount)
        return due - timedelta(days=before.amount)

    def _responsible(self, role: Responsible, organ: str | None) -> tuple[str | None, str | None]:
        """The department that answers for a clock of this role, and how to name who does."""
        lead = self.lead.code if self.lead else None
        if role is Responsible.LEAD:
            return lead, lead
        if role is Responsible.SUPERVISION:
            return SUPERVISION_OFFICE, SUPERVISION_OFFICE
        if role is Responsible.FIRST_RECEIVER:
            return None, f"first receiver {self.first_receiver}"
        return None, organ

    def _schedule(
        self,
        milestone: Milestone,
        start: datetime,
        trace: Trace,
        rules: Rules,
        *,
        skip: tuple[DeadlineKind, ...] = (),
        only: tuple[DeadlineKind, ...] | None = None,
        actor: Actor | None = None,
        responsible: str | None = None,
    ) -> None:
        deadlines = []
        for clock in rules.policy.starting(milestone, self.major):
            if clock.kind in skip or (only is not None and clock.kind not in only):
                continue
            due = rules.calendar.end(start, clock.period)
            department, who = self._responsible(clock.responsible, responsible)
            number = sum(1 for d in self.deadlines if d.kind == clock.kind) + 1
            deadlines.append(
                Deadline(
                    id=f"{clock.kind.value}#{number}",
                    kind=clock.kind,
                    starts_on=milestone,
                    starts_at=start,
                    due_at=due,
                    remind_at=self._remind_at(due, clock.remind_before),
                    period=str(clock.period),
                    rule=clock.rule,
                    legal_basis=clock.legal_basis,
                    responsible_role=clock.responsible,
                    responsible=who,
                    department=department,
                    escalates=clock.escalates,
                )
            )
        if not deadlines:
            return
        self.trigger_event(
            self.DeadlinesScheduled,
            deadlines=deadlines,
            **attribution(actor or Actor.service("followup"), trace),
        )
