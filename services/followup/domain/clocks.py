"""The clocks of a case: its deadlines from the policy, reminders before them, breaches
and the supervision notices (督办) they bring, pauses and extensions.

Every deadline's times are computed once, when its clock starts, and stored in the event,
so a replay never depends on the calendar or the policy of the day it is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from services.followup.domain.errors import FollowUpRefused
from services.followup.policy import STANDARD, Policy
from shared.calendar import CHINA, Period, WorkCalendar, local_minute
from shared.domain import Actor, Attributed, Trace, attribution


@dataclass(frozen=True)
class Rules:
    """What a case's clocks follow: the locality's deadline policy and its work calendar."""

    policy: Policy = STANDARD
    calendar: WorkCalendar = CHINA


STANDARD_RULES = Rules()
"""The standard policy on the built-in calendar."""

SUPERVISION_OFFICE = "supervision-office"


class CaseClocks(Aggregate):
    """The clocks one case carries (see the module docstring). `FollowUpCase` is a case
    with its clocks; its handling raises the milestones that start and stop them.

    Never stored by itself: eventsourcing redefines these event classes on `FollowUpCase`,
    so they are stored and mapped as `FollowUpCase.DeadlinesScheduled` and so on.
    """

    if TYPE_CHECKING:  # facts of the case the clocks read; FollowUpCase keeps them
        lead: dict[str, str] | None
        first_receiver: str | None
        major: bool
        final: dict[str, Any] | None
        closed_out: dict[str, Any] | None

        @property
        def status(self) -> str: ...

    class DeadlinesScheduled(Aggregate.Event):
        deadlines: list[dict[str, Any]]
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, case: CaseClocks) -> None:
            for scheduled in self.deadlines:
                deadline = dict(scheduled)  # the case's own copy: the event stays as raised
                if "id" not in deadline:  # scheduled before deadlines had ids (≤ 2026-11-21)
                    same = sum(1 for d in case.deadlines if d["kind"] == deadline["kind"])
                    deadline["id"] = f"{deadline['kind']}#{same + 1}"
                case.deadlines.append(deadline)

    class DeadlinesMet(Attributed):
        ids: list[str]
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            for d in case._by_id(self.ids):
                d["met_at"] = self.at

    class DeadlinesSuperseded(Attributed):
        ids: list[str]
        at: datetime
        reason: str

        def apply(self, case: CaseClocks) -> None:
            for d in case._by_id(self.ids):
                d["superseded_at"] = self.at

    class ReminderSent(Attributed):
        deadline: dict[str, Any]  # as it stood: the wire tells whom, what and by when
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            for d in case._by_id([self.deadline["id"]]):
                d["reminded_at"] = self.at

    class DeadlineBreached(Attributed):
        deadline: dict[str, Any]
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            for d in case._by_id([self.deadline["id"]]):
                d["breached_at"] = self.at

    class SupervisionNoticeIssued(Attributed):
        number: int
        department: str | None
        text: str
        deadline_id: str | None
        automatic: bool
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case.notices.append(
                {
                    "number": self.number,
                    "department": self.department,
                    "text": self.text,
                    "deadline_id": self.deadline_id,
                    "automatic": self.automatic,
                    "by": self.actor["user"],
                    "at": self.at,
                }
            )

    class ClocksPaused(Attributed):
        ids: list[str]
        reason: str
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case.pause = {"ids": self.ids, "reason": self.reason, "since": self.at}
            for d in case._by_id(self.ids):
                d["paused_at"] = self.at

    class ClocksResumed(Attributed):
        deadlines: list[dict[str, Any]]  # each as it runs on, its times moved
        paused_seconds: int
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            case.pause = None
            moved = {d["id"]: d for d in self.deadlines}
            for d in case._by_id(list(moved)):
                d.update(moved[d["id"]])

    class ExtensionGranted(Attributed):
        deadline_id: str
        period: str
        reason: str
        approved_by: str
        due_at: datetime
        remind_at: datetime | None
        at: datetime

        def apply(self, case: CaseClocks) -> None:
            for d in case._by_id([self.deadline_id]):
                d["extended"] = {
                    "period": self.period,
                    "reason": self.reason,
                    "approved_by": self.approved_by,
                    "from": d["due_at"],
                    "at": self.at,
                }
                d.update(due_at=self.due_at, remind_at=self.remind_at)

    def __init__(self) -> None:
        self.deadlines: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.pause: dict[str, Any] | None = None

    # --- the clocks now ---------------------------------------------------------------------

    def _by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        return [d for d in self.deadlines if d.get("id", d["kind"]) in wanted]

    def running(self, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Deadlines still to be met (breached ones included), optionally of some kinds."""
        return [
            d
            for d in self.deadlines
            if not d.get("met_at")
            and not d.get("superseded_at")
            and (kinds is None or d["kind"] in kinds)
        ]

    def deadlines_at(self, now: datetime) -> list[dict[str, Any]]:
        """Deadlines with their state at `now`."""

        def state(d: dict[str, Any]) -> str:
            if d.get("met_at") and d["met_at"] <= now:
                return "met-late" if d["met_at"] > d["due_at"] else "met"
            if d.get("superseded_at"):
                return "superseded"
            if d.get("paused_at"):
                return "paused"
            return "overdue" if now > d["due_at"] else "open"

        return [
            {**d, "state": state(d), "seconds_left": int((d["due_at"] - now).total_seconds())}
            for d in sorted(self.deadlines, key=lambda d: d["due_at"])
        ]

    def next_alarm(self) -> datetime | None:
        """The next moment a reminder or a breach of a running clock falls due."""
        moments = []
        for d in self.running():
            if d.get("paused_at"):
                continue
            if d.get("remind_at") and not d.get("reminded_at") and d["remind_at"] < d["due_at"]:
                moments.append(d["remind_at"])
            elif not d.get("breached_at"):
                moments.append(d["due_at"])
        return min(moments, default=None)

    # --- commands on the clocks ------------------------------------------------------------

    def pause_clocks(self, reason: str, actor: Actor, trace: Trace, at: datetime) -> None:
        """Hearings (听证) and the like: running clocks stop until resumed."""
        if self.pause:
            raise FollowUpRefused("the clocks are already paused", field="case_id")
        running = [d for d in self.running() if not d.get("paused_at")]
        if not running:
            raise FollowUpRefused("no clock of the case is running", field="case_id")
        self.trigger_event(
            self.ClocksPaused,
            ids=[d["id"] for d in running],
            reason=reason,
            at=at,
            **attribution(actor, trace),
        )

    def resume_clocks(self, actor: Actor, trace: Trace, at: datetime) -> None:
        if not self.pause:
            raise FollowUpRefused("the clocks are not paused", field="case_id")
        paused = at - self.pause["since"]
        moved = [
            {
                **d,
                "due_at": d["due_at"] + paused,
                "remind_at": d["remind_at"] + paused if d.get("remind_at") else None,
                "paused_at": None,
                "paused_seconds": d.get("paused_seconds", 0) + int(paused.total_seconds()),
            }
            for d in self._by_id(self.pause["ids"])
        ]
        self.trigger_event(
            self.ClocksResumed,
            deadlines=moved,
            paused_seconds=int(paused.total_seconds()),
            at=at,
            **attribution(actor, trace),
        )

    def extend(
        self,
        kind: str,
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
        if deadline.get("extended"):
            raise FollowUpRefused(f"the {kind} deadline was already extended once", field="days")
        if not 0 < days <= clock.extension.amount:
            raise FollowUpRefused(f"an extension is at most {clock.extension}", field="days")
        if at > deadline["due_at"]:
            raise FollowUpRefused("the deadline has already passed", field="kind")
        new_due = deadline["due_at"] + timedelta(days=days)
        self._extend(deadline, new_due, reason, actor, trace, at, rules, f"{days} days")

    def _extend(
        self,
        deadline: dict[str, Any],
        due: datetime,
        reason: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
        period: str | None = None,
    ) -> None:
        clock = rules.policy.clock(deadline["kind"])
        before = clock.remind_before if clock else None
        remind = self._remind_at(due, before)
        self.trigger_event(
            self.ExtensionGranted,
            deadline_id=deadline["id"],
            period=period or f"until {due.date().isoformat()}",
            reason=reason,
            approved_by=actor.user,
            due_at=due,
            remind_at=remind,
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
        """督办: a written notice to a department to act, by the supervision office or on a
        breach by follow-up itself."""
        if self.final or self.closed_out:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        target = department or (self.lead or {}).get("code")
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
        for d in list(self.running()):
            if d.get("paused_at"):
                continue
            if d["due_at"] <= now and not d.get("breached_at"):
                self.trigger_event(
                    self.DeadlineBreached,
                    deadline=dict(d),
                    at=now,
                    **attribution(actor, trace),
                )
                fired += 1
                if d.get("responsible_role") == "lead":
                    self.issue_supervision_notice(
                        f"{d['kind']} was due {local_minute(d['due_at'])} and is not met: "
                        f"{d['rule']}",
                        d.get("department"),
                        actor,
                        trace,
                        now,
                        deadline_id=d["id"],
                        automatic=True,
                    )
            elif (
                d.get("remind_at")
                and d["remind_at"] <= now < d["due_at"]
                and not d.get("reminded_at")
            ):
                self.trigger_event(
                    self.ReminderSent, deadline=dict(d), at=now, **attribution(actor, trace)
                )
                fired += 1
        return fired

    # --- clocks from the policy -------------------------------------------------------------

    def _milestone(
        self,
        milestone: str,
        at: datetime,
        actor: Actor,
        trace: Trace,
        rules: Rules,
        responsible: str | None = None,
    ) -> None:
        """What reaching `milestone` means for the clocks: those it stops are met (a
        recurring one starts again), those it starts are scheduled."""
        met, again = [], []
        for d in self.running():
            clock = rules.policy.clock(d["kind"])
            stops = clock.stops_on if clock else ()
            if milestone in stops:
                met.append(d)
                if clock and clock.recurring:
                    again.append(d["kind"])
        if met:
            self.trigger_event(
                self.DeadlinesMet, ids=[d["id"] for d in met], at=at, **attribution(actor, trace)
            )
        self._schedule(milestone, at, trace, rules, actor=actor, responsible=responsible)
        for kind in again:
            self._schedule("long-term-plan", at, trace, rules, only=(kind,), actor=actor)

    def _supersede(
        self,
        deadlines: list[dict[str, Any]],
        at: datetime,
        reason: str,
        trace: Trace,
        actor: Actor | None = None,
    ) -> None:
        if deadlines:
            self.trigger_event(
                self.DeadlinesSuperseded,
                ids=[d["id"] for d in deadlines],
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

    def _schedule(
        self,
        milestone: str,
        start: datetime,
        trace: Trace,
        rules: Rules,
        *,
        skip: tuple[str, ...] = (),
        only: tuple[str, ...] | None = None,
        actor: Actor | None = None,
        responsible: str | None = None,
    ) -> None:
        deadlines = []
        for clock in rules.policy.starting(milestone, self.major):
            if clock.kind in skip or (only is not None and clock.kind not in only):
                continue
            due = rules.calendar.end(start, clock.period)
            department = {
                "lead": (self.lead or {}).get("code"),
                "first-receiver": None,
                "supervision": SUPERVISION_OFFICE,
                "reviewing-organ": None,
            }[clock.responsible]
            who = {
                "first-receiver": f"first receiver {self.first_receiver}",
                "reviewing-organ": responsible,
            }.get(clock.responsible, department)
            number = sum(1 for d in self.deadlines if d["kind"] == clock.kind) + 1
            deadlines.append(
                {
                    "id": f"{clock.kind}#{number}",
                    "kind": clock.kind,
                    "starts_on": milestone,
                    "starts_at": start,
                    "due_at": due,
                    "remind_at": self._remind_at(due, clock.remind_before),
                    "period": str(clock.period),
                    "rule": clock.rule,
                    "legal_basis": clock.legal_basis,
                    "responsible_role": clock.responsible,
                    "responsible": who,
                    "department": department,
                    "escalates": clock.escalates,
                }
            )
        if not deadlines:
            return
        self.trigger_event(
            self.DeadlinesScheduled,
            deadlines=deadlines,
            **attribution(actor or Actor.service("followup"), trace),
        )
