"""Follow-up's domain: the clock on every case, and the audit trail of every hand-off."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from services.followup.policy import SATISFACTION, STANDARD, Policy
from shared.calendar import CHINA, Period, WorkCalendar, local_minute
from shared.domain import Actor, Attributed, DomainError, Trace, attribution


@dataclass(frozen=True)
class Rules:
    """What a case's clocks follow: the locality's deadline policy and its work calendar."""

    policy: Policy = STANDARD
    calendar: WorkCalendar = CHINA


SUPERVISION_OFFICE = "supervision-office"
OPINIONS = ("support", "explain", "not-support")  # 支持 / 解释说明 / 不予支持 (Art. 32)
FORMS = ("opinion", "agreement")  # a handling opinion, or a mediation/settlement agreement (33)
REVIEW_LEVELS = ("review", "re-review")
REVIEW_DECISIONS = ("upheld", "revised", "revoked")


class FollowUpRefused(DomainError):
    """The case is not in a state where this can be done; the message says why."""


class FollowUpCase(Aggregate):
    """A case as follow-up tracks it until it is closed out (销号) or final: its clocks,
    its handling to an outcome, return visits, and review and re-review.

    It learns of registration and assignment from topics that may arrive in either order,
    so each note stands on its own and the status is derived from what is known. Every
    deadline's computed times are stored in the events, so a replay never depends on the
    calendar or policy of the day it is replayed.
    """

    class Opened(Aggregate.Created):
        pass

    class RegistrationNoted(Aggregate.Event):
        subject: str
        category: str
        location: dict[str, Any]
        registered_at: datetime
        first_receiver: str
        channel: str | None = None
        group_size: int | None = None
        petitioner_ids: tuple[str, ...] = ()
        lookup_code_hash: str | None = None

        def apply(self, case: FollowUpCase) -> None:
            case.subject = self.subject
            case.category = self.category
            case.location = self.location
            case.registered_at = self.registered_at
            case.first_receiver = self.first_receiver
            case.channel = self.channel
            case.group_size = self.group_size
            case.petitioner_ids = list(self.petitioner_ids)
            case.lookup_code_hash = self.lookup_code_hash
            case.major = case.major or bool(self.group_size)

    class AssignmentNoted(Aggregate.Event):
        lead: dict[str, str]
        co_handlers: list[dict[str, str]]
        assigned_at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.lead = self.lead
            case.co_handlers = self.co_handlers
            case.assigned_at = self.assigned_at

    class ManualDispatchNoted(Aggregate.Event):
        reason: str

        def apply(self, case: FollowUpCase) -> None:
            case.manual_dispatch_reason = self.reason

    class AcceptanceNoted(Aggregate.Event):
        """Intake decided acceptance: the written notice owed within 15 days is given."""

        decision: str
        decided_at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.acceptance = self.decision
            case.acceptance_decided_at = self.decided_at
            for deadline in case.deadlines:
                if deadline["kind"] == "acceptance-notice" and not deadline.get("met_at"):
                    deadline["met_at"] = self.decided_at

    class EscalationNoted(Aggregate.Event):
        level: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.level = self.level

    class RepeatNoted(Aggregate.Event):
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.repeats.append(self.at)

    class RestrictionNoted(Aggregate.Event):
        """An accusation: these units never read the case (Art. 30)."""

        barred: list[str]

        def apply(self, case: FollowUpCase) -> None:
            case.barred = sorted(set(case.barred) | set(self.barred))

    class PartNoted(Aggregate.Event):
        department: str
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.parts[self.department] = {"summary": self.summary, "at": self.at}

    class DeadlinesScheduled(Aggregate.Event):
        deadlines: list[dict[str, Any]]
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, case: FollowUpCase) -> None:
            for scheduled in self.deadlines:
                deadline = dict(scheduled)  # the case's own copy: the event stays as raised
                if "id" not in deadline:  # scheduled before deadlines had ids (≤ 2026-11-21)
                    same = sum(1 for d in case.deadlines if d["kind"] == deadline["kind"])
                    deadline["id"] = f"{deadline['kind']}#{same + 1}"
                case.deadlines.append(deadline)

    class DeadlinesMet(Attributed):
        ids: list[str]
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            for d in case._by_id(self.ids):
                d["met_at"] = self.at

    class DeadlinesSuperseded(Attributed):
        ids: list[str]
        at: datetime
        reason: str

        def apply(self, case: FollowUpCase) -> None:
            for d in case._by_id(self.ids):
                d["superseded_at"] = self.at

    class ReminderSent(Attributed):
        deadline: dict[str, Any]  # as it stood: the wire tells whom, what and by when
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            for d in case._by_id([self.deadline["id"]]):
                d["reminded_at"] = self.at

    class DeadlineBreached(Attributed):
        deadline: dict[str, Any]
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            for d in case._by_id([self.deadline["id"]]):
                d["breached_at"] = self.at

    class SupervisionNoticeIssued(Attributed):
        number: int
        department: str | None
        text: str
        deadline_id: str | None
        automatic: bool
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
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

        def apply(self, case: FollowUpCase) -> None:
            case.pause = {"ids": self.ids, "reason": self.reason, "since": self.at}
            for d in case._by_id(self.ids):
                d["paused_at"] = self.at

    class ClocksResumed(Attributed):
        deadlines: list[dict[str, Any]]  # each as it runs on, its times moved
        paused_seconds: int
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
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

        def apply(self, case: FollowUpCase) -> None:
            for d in case._by_id([self.deadline_id]):
                d["extended"] = {
                    "period": self.period,
                    "reason": self.reason,
                    "approved_by": self.approved_by,
                    "from": d["due_at"],
                    "at": self.at,
                }
                d.update(due_at=self.due_at, remind_at=self.remind_at)

    class PlanFiled(Attributed):
        summary: str
        major: bool
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.major = case.major or self.major
            case.reports.append({"kind": "plan", "summary": self.summary, "at": self.at})

    class LongTermPlanApproved(Attributed):
        summary: str
        approved_by: str
        target: datetime
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.long_term_plan = {
                "summary": self.summary,
                "approved_by": self.approved_by,
                "target": self.target,
                "at": self.at,
            }
            case.reports.append({"kind": "long-term-plan", "summary": self.summary, "at": self.at})

    class ProgressReported(Attributed):
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.reports.append({"kind": "progress", "summary": self.summary, "at": self.at})

    class OutcomeRecorded(Attributed):
        round: int
        form: str
        opinion: str | None
        summary: str
        parts: dict[str, Any]
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.outcomes.append(
                {
                    "round": self.round,
                    "form": self.form,
                    "opinion": self.opinion,
                    "summary": self.summary,
                    "parts": self.parts,
                    "by": self.actor["user"],
                    "department": self.actor.get("department"),
                    "at": self.at,
                }
            )

    class SatisfactionRecorded(Attributed):
        round: int
        satisfaction: str
        notes: str
        source: str  # "return-visit" by staff, or "petitioner" online with the case code
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.ratings.append(
                {
                    "round": self.round,
                    "satisfaction": self.satisfaction,
                    "notes": self.notes,
                    "source": self.source,
                    "at": self.at,
                }
            )

    class Reopened(Attributed):
        round: int
        reason: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.round = self.round
            case.reopenings.append({"round": self.round, "reason": self.reason, "at": self.at})

    class CeaseCommitmentRecorded(Attributed):
        note: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.cease_commitment = {"note": self.note, "at": self.at}

    class ClosedOut(Attributed):
        basis: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.closed_out = {"basis": self.basis, "by": self.actor["user"], "at": self.at}

    class ReviewRequested(Attributed):
        level: str
        organ: str
        reason: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.reviews.append(
                {
                    "level": self.level,
                    "organ": self.organ,
                    "reason": self.reason,
                    "requested_at": self.at,
                    "decided_at": None,
                    "decision": None,
                    "summary": None,
                }
            )

    class ReviewDecided(Attributed):
        level: str
        decision: str
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            review = case.reviews[-1]
            review.update(decided_at=self.at, decision=self.decision, summary=self.summary)

    class BecameFinal(Attributed):
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.final = {"summary": self.summary, "at": self.at}

    def __init__(self) -> None:
        self.subject: str | None = None
        self.category: str | None = None
        self.location: dict[str, Any] = {}
        self.registered_at: datetime | None = None
        self.first_receiver: str | None = None
        self.channel: str | None = None
        self.group_size: int | None = None
        self.petitioner_ids: list[str] = []
        self.lookup_code_hash: str | None = None
        self.lead: dict[str, str] | None = None
        self.co_handlers: list[dict[str, str]] = []
        self.assigned_at: datetime | None = None
        self.manual_dispatch_reason: str | None = None
        self.acceptance: str | None = None
        self.acceptance_decided_at: datetime | None = None
        self.level = "window"
        self.repeats: list[datetime] = []
        self.parts: dict[str, dict[str, Any]] = {}
        self.barred: list[str] = []
        self.deadlines: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.pause: dict[str, Any] | None = None
        self.major = False
        self.reports: list[dict[str, Any]] = []
        self.long_term_plan: dict[str, Any] | None = None
        self.round = 1
        self.outcomes: list[dict[str, Any]] = []
        self.ratings: list[dict[str, Any]] = []
        self.reopenings: list[dict[str, Any]] = []
        self.cease_commitment: dict[str, Any] | None = None
        self.closed_out: dict[str, Any] | None = None
        self.reviews: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None

    @classmethod
    def open(cls, case_id: UUID) -> FollowUpCase:
        return cls._create(cls.Opened, id=case_id)

    # --- what the case is now -----------------------------------------------------------

    @property
    def status(self) -> str:
        review = self.reviews[-1] if self.reviews else None
        if self.final:
            return "final"
        if review and review["decided_at"] is None:
            return f"under-{review['level']}"
        if self.closed_out:
            return "closed-out"
        if self.acceptance in ("decline", "divert"):
            return "declined" if self.acceptance == "decline" else "diverted"
        if self.outcome:
            return "resolved"
        if self.reopenings and self.reopenings[-1]["round"] == self.round:
            since = self.reopenings[-1]["at"]
            if not any(r["at"] >= since for r in self.reports):
                return "reopened"
        if self.lead:
            return "in-progress" if self.reports else "assigned"
        if self.manual_dispatch_reason:
            return "awaiting-manual-dispatch"
        return "registered" if self.registered_at else "pending-registration"

    @property
    def outcome(self) -> dict[str, Any] | None:
        """The outcome of the current round of handling, if there is one yet."""
        last = self.outcomes[-1] if self.outcomes else None
        return last if last and last["round"] == self.round else None

    @property
    def rating(self) -> dict[str, Any] | None:
        """The satisfaction recorded for the current round's outcome."""
        last = self.ratings[-1] if self.ratings else None
        return last if last and last["round"] == self.round else None

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

    # --- notes of other services' events ---------------------------------------------------

    def note_registration(
        self,
        *,
        subject: str,
        category: str,
        location: dict[str, Any],
        registered_at: datetime,
        first_receiver: str,
        trace: Trace,
        notice_required: bool = True,
        channel: str | None = None,
        group_size: int | None = None,
        petitioner_ids: tuple[str, ...] = (),
        lookup_code_hash: str | None = None,
        rules: Rules = Rules(),
    ) -> None:
        """Starts the registration clocks; the acceptance notice only when one is owed
        (not when the petitioner's name or address is unknown, Art. 23 ¶2)."""
        if self.registered_at is not None:
            raise FollowUpRefused(f"case {self.id} was already registered", field="case_id")
        self.trigger_event(
            self.RegistrationNoted,
            subject=subject,
            category=category,
            location=location,
            registered_at=registered_at,
            first_receiver=first_receiver,
            channel=channel,
            group_size=group_size,
            petitioner_ids=tuple(petitioner_ids),
            lookup_code_hash=lookup_code_hash,
        )
        skip = () if notice_required else ("acceptance-notice",)
        self._schedule("registered", registered_at, trace, rules, skip=skip)

    def note_acceptance(
        self, decision: str, decided_at: datetime, trace: Trace, rules: Rules = Rules()
    ) -> None:
        self.trigger_event(self.AcceptanceNoted, decision=decision, decided_at=decided_at)
        if decision == "accept":
            self._schedule("accepted", decided_at, trace, rules)
        else:  # declined or diverted: the matter is not handled here, its clocks stop
            self._supersede(self.running(), decided_at, f"the case was {decision}d", trace)

    def note_assignment(
        self,
        *,
        lead: dict[str, str],
        co_handlers: list[dict[str, str]],
        assigned_at: datetime,
        trace: Trace,
        rules: Rules = Rules(),
    ) -> None:
        """A new lead gets its own 13710 clocks, the old lead's stop; a confirmed lead (a
        joint meeting naming the same department) keeps the clocks it had."""
        new_lead = self.lead is None or self.lead["code"] != lead["code"]
        self.trigger_event(
            self.AssignmentNoted, lead=lead, co_handlers=co_handlers, assigned_at=assigned_at
        )
        if not new_lead:
            return
        handed_on = [
            d
            for d in self.running()
            if d.get("starts_on", "assigned") == "assigned"
            and d["kind"] in ("handling-plan", "first-report", "resolution")
        ]
        self._supersede(
            handed_on, assigned_at, f"the case was re-assigned to {lead['code']}", trace
        )
        self._schedule("assigned", assigned_at, trace, rules)

    def note_manual_dispatch(self, reason: str) -> None:
        self.trigger_event(self.ManualDispatchNoted, reason=reason)

    def note_escalation(self, level: str, at: datetime) -> None:
        self.trigger_event(self.EscalationNoted, level=level, at=at)

    def note_repeat(self, at: datetime) -> None:
        self.trigger_event(self.RepeatNoted, at=at)

    def note_restriction(self, barred: list[str]) -> None:
        self.trigger_event(self.RestrictionNoted, barred=barred)

    def visible_to(self, department: str | None) -> bool:
        return department is None or department not in self.barred

    def note_part(self, department: str, summary: str, at: datetime) -> None:
        self.trigger_event(self.PartNoted, department=department, summary=summary, at=at)

    # --- handling to an outcome ------------------------------------------------------------

    def _handling(self, actor: Actor) -> None:
        if self.final or self.closed_out:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        if self.lead is None:
            raise FollowUpRefused("the case has no lead department yet", field="case_id")
        if self.outcome:
            raise FollowUpRefused(
                "the case already has its outcome; a return visit found unsatisfied reopens it",
                field="case_id",
            )
        if actor.role == "handler" and actor.department != self.lead["code"]:
            raise FollowUpRefused(
                f"only the lead department ({self.lead['code']}) reports on the case; "
                "co-handlers report their part to the lead through routing",
                field="department",
            )

    def file_plan(
        self, summary: str, major: bool, actor: Actor, trace: Trace, at: datetime, rules: Rules
    ) -> None:
        self._handling(actor)
        became_major = major and not self.major
        self.trigger_event(
            self.PlanFiled, summary=summary, major=major, at=at, **attribution(actor, trace)
        )
        self._milestone("plan", at, actor, trace, rules)
        if became_major:  # the 7-day clock gives way to the month a major matter has
            ordinary = self.running(("resolution",))
            self._supersede(ordinary, at, "the plan found the matter major", trace, actor)
            start = ordinary[0]["starts_at"] if ordinary else at
            self._schedule("assigned", start, trace, rules, only=("resolution",), actor=actor)

    def approve_long_term_plan(
        self,
        summary: str,
        target: datetime,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """A major matter that cannot be resolved in a month: a leader approves a plan with
        a date, and the lead reports progress every month until then (13710)."""
        self._handling(actor)
        if not self.major:
            raise FollowUpRefused(
                "a long-term plan is for major matters; file a plan marked major first",
                field="major",
            )
        if target <= at:
            raise FollowUpRefused("the plan's target date is in the past", field="target")
        self.trigger_event(
            self.LongTermPlanApproved,
            summary=summary,
            approved_by=actor.user,
            target=target,
            at=at,
            **attribution(actor, trace),
        )
        for d in self.running(("resolution",)):
            self._extend(d, target, f"leader-approved plan: {summary}", actor, trace, at, rules)
        self._milestone("long-term-plan", at, actor, trace, rules)

    def report_progress(
        self, summary: str, actor: Actor, trace: Trace, at: datetime, rules: Rules
    ) -> None:
        self._handling(actor)
        self.trigger_event(
            self.ProgressReported, summary=summary, at=at, **attribution(actor, trace)
        )
        self._milestone("progress", at, actor, trace, rules)

    def record_outcome(
        self,
        *,
        form: str,
        opinion: str | None,
        summary: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """The lead's handling opinion (support / explain / not support, Art. 32) or a
        mediation or settlement agreement (Art. 33), with the co-handlers' parts."""
        self._handling(actor)
        if form not in FORMS:
            raise FollowUpRefused(f"form is one of {', '.join(FORMS)}", field="form")
        if form == "opinion" and opinion not in OPINIONS:
            raise FollowUpRefused(
                f"a handling opinion is one of {', '.join(OPINIONS)}", field="opinion"
            )
        missing = [c["code"] for c in self.co_handlers if c["code"] not in self.parts]
        if missing:
            raise FollowUpRefused(
                f"co-handlers have not reported their part yet: {', '.join(missing)}",
                field="parts",
            )
        self.trigger_event(
            self.OutcomeRecorded,
            round=self.round,
            form=form,
            opinion=opinion if form == "opinion" else None,
            summary=summary,
            parts={code: part["summary"] for code, part in self.parts.items()},
            at=at,
            **attribution(actor, trace),
        )
        self._milestone("outcome", at, actor, trace, rules)

    # --- return visit, satisfaction, close-out -------------------------------------------

    def record_satisfaction(
        self,
        *,
        satisfaction: str,
        notes: str,
        source: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """A return visit's answer or the petitioner's own rating; unsatisfied reopens the
        handling with a fresh resolution clock (案结事了)."""
        if satisfaction not in SATISFACTION:
            raise FollowUpRefused(
                f"satisfaction is one of {', '.join(SATISFACTION)}", field="satisfaction"
            )
        if self.closed_out or self.final:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        if not self.outcome:
            raise FollowUpRefused("there is no outcome to rate yet", field="case_id")
        if self.rating:
            raise FollowUpRefused(
                f"this outcome was already rated {self.rating['satisfaction']}", field="case_id"
            )
        self.trigger_event(
            self.SatisfactionRecorded,
            round=self.round,
            satisfaction=satisfaction,
            notes=notes,
            source=source,
            at=at,
            **attribution(actor, trace),
        )
        self._milestone("rated", at, actor, trace, rules)
        if satisfaction == "unsatisfied":
            self.trigger_event(
                self.Reopened,
                round=self.round + 1,
                reason=notes or "the petitioner is not satisfied with the outcome",
                at=at,
                **attribution(actor, trace),
            )
            self._milestone("reopened", at, actor, trace, rules)

    def record_cease_commitment(self, note: str, actor: Actor, trace: Trace, at: datetime) -> None:
        if not self.outcomes:
            raise FollowUpRefused("a cease-petition commitment follows an outcome", field="case_id")
        if self.cease_commitment:
            raise FollowUpRefused("the commitment is already recorded", field="case_id")
        self.trigger_event(
            self.CeaseCommitmentRecorded, note=note, at=at, **attribution(actor, trace)
        )

    def close_out(self, actor: Actor, trace: Trace, at: datetime, rules: Rules) -> None:
        """销号: only when the policy says the matter is settled."""
        if self.closed_out or self.final:
            raise FollowUpRefused(f"the case is already {self.status}", field="case_id")
        if not self.outcome:
            raise FollowUpRefused(
                "a case is closed out after its outcome (and return visit)", field="case_id"
            )
        if self.reviews and self.reviews[-1]["decided_at"] is None:
            raise FollowUpRefused("a review of the case is still open", field="case_id")
        rating = self.rating["satisfaction"] if self.rating else None
        refusal = rules.policy.close_out.refusal(rating, self.cease_commitment is not None)
        if refusal:
            raise FollowUpRefused(refusal, field="case_id")
        basis = f"return visit: {rating}" if rating else "cease-petition commitment signed"
        self.trigger_event(self.ClosedOut, basis=basis, at=at, **attribution(actor, trace))
        self._supersede(self.running(), at, "the case was closed out", trace, actor)

    # --- review and re-review (Arts. 35–36) ----------------------------------------------

    def request_review(
        self,
        level: str,
        organ: str,
        reason: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        if self.final:
            raise FollowUpRefused(
                "the matter is final after re-review: the same facts and reasons are not "
                "accepted again (《信访工作条例》第三十六条)",
                field="level",
            )
        if level not in REVIEW_LEVELS:
            raise FollowUpRefused(f"level is one of {', '.join(REVIEW_LEVELS)}", field="level")
        done = {r["level"] for r in self.reviews}
        if level in done:
            raise FollowUpRefused(f"a {level} was already requested", field="level")
        if level == "review":
            if not self.outcomes:
                raise FollowUpRefused(
                    "a review is of a handling opinion; there is none yet", field="level"
                )
            reply = self.outcomes[-1]["at"]
        else:
            if "review" not in done or self.reviews[-1]["decided_at"] is None:
                raise FollowUpRefused("a re-review follows a decided review", field="level")
            reply = self.reviews[-1]["decided_at"]
        window = rules.calendar.end(reply, rules.policy.review_window)
        if at > window:
            raise FollowUpRefused(
                f"a {level} is requested within {rules.policy.review_window} of the reply "
                f"({reply.date().isoformat()}); that ended on {window.date().isoformat()}",
                field="level",
            )
        self.trigger_event(
            self.ReviewRequested,
            level=level,
            organ=organ,
            reason=reason,
            at=at,
            **attribution(actor, trace),
        )
        self._milestone(f"{level}-requested", at, actor, trace, rules, responsible=organ)

    def decide_review(
        self,
        decision: str,
        summary: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        if decision not in REVIEW_DECISIONS:
            raise FollowUpRefused(
                f"decision is one of {', '.join(REVIEW_DECISIONS)}", field="decision"
            )
        if not self.reviews or self.reviews[-1]["decided_at"] is not None:
            raise FollowUpRefused("no review is waiting for a decision", field="case_id")
        level = self.reviews[-1]["level"]
        self.trigger_event(
            self.ReviewDecided,
            level=level,
            decision=decision,
            summary=summary,
            at=at,
            **attribution(actor, trace),
        )
        self._milestone(f"{level}-decided", at, actor, trace, rules)
        if level == "re-review":
            self.trigger_event(
                self.BecameFinal, summary=summary, at=at, **attribution(actor, trace)
            )
            self._supersede(self.running(), at, "the matter is final", trace, actor)

    # --- the clock --------------------------------------------------------------------------

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


CALENDAR_ID = uuid5(NAMESPACE_URL, "onestop:followup:holiday-calendar")


class HolidayCalendar(Aggregate):
    """The public holidays and make-up working days by year, as the State Council publishes
    them each autumn; what is published here overrides the built-in years."""

    class Started(Aggregate.Created):
        pass

    class YearPublished(Attributed):
        year: int
        holidays: list[str]
        make_up_days: list[str]

        def apply(self, book: HolidayCalendar) -> None:
            book.years[self.year] = {
                "holidays": self.holidays,
                "make_up_days": self.make_up_days,
                "by": self.actor["user"],
            }

    def __init__(self) -> None:
        self.years: dict[int, dict[str, Any]] = {}

    @classmethod
    def start(cls) -> HolidayCalendar:
        return cls._create(cls.Started, id=CALENDAR_ID)

    def publish(
        self,
        year: int,
        holidays: list[date],
        make_up_days: list[date],
        actor: Actor,
        trace: Trace,
    ) -> None:
        for name, days in (("holidays", holidays), ("make_up_days", make_up_days)):
            for i, day in enumerate(days):
                if day.year != year:
                    raise FollowUpRefused(f"{day} is not in {year}", field=f"{name}.{i}")
        clash = sorted(set(holidays) & set(make_up_days))
        if clash:
            raise FollowUpRefused(
                f"{clash[0]} cannot be both a holiday and a working day", field="make_up_days"
            )
        self.trigger_event(
            self.YearPublished,
            year=year,
            holidays=sorted(d.isoformat() for d in set(holidays)),
            make_up_days=sorted(d.isoformat() for d in set(make_up_days)),
            **attribution(actor, trace),
        )

    def calendar(self, base: WorkCalendar = CHINA) -> WorkCalendar:
        found = base
        for year, days in sorted(self.years.items()):
            found = found.with_year(
                frozenset(date.fromisoformat(d) for d in days["holidays"]),
                frozenset(date.fromisoformat(d) for d in days["make_up_days"]),
                year,
            )
        return found


GENESIS = "0" * 64


def entry_hash(previous: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(
        entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(previous.encode() + canonical.encode()).hexdigest()


def history_id(case_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"onestop:case-history:{case_id}")


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


class CaseHistory(Aggregate):
    """The audit trail of one case: every event from every service, each entry hash-chained
    to the one before, so an altered or removed entry is detected on replay."""

    class Started(Aggregate.Created):
        case_id: str

        def apply(self, history: CaseHistory) -> None:
            history.case_id = self.case_id

    class EntryRecorded(Aggregate.Event):
        entry: dict[str, Any]
        previous_hash: str
        hash: str

        def apply(self, history: CaseHistory) -> None:
            history.entries.append(
                {**self.entry, "previous_hash": self.previous_hash, "hash": self.hash}
            )
            history.event_ids.add(self.entry["event_id"])

    def __init__(self) -> None:
        self.case_id = ""
        self.entries: list[dict[str, Any]] = []
        self.event_ids: set[str] = set()

    @classmethod
    def start(cls, case_id: UUID) -> CaseHistory:
        return cls._create(cls.Started, id=history_id(case_id), case_id=str(case_id))

    @property
    def head_hash(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS

    def record(self, entry: dict[str, Any]) -> bool:
        """Append an entry; False if this event is already in the history (a redelivery)."""
        if entry["event_id"] in self.event_ids:
            return False
        previous = self.head_hash
        self.trigger_event(
            self.EntryRecorded,
            entry=entry,
            previous_hash=previous,
            hash=entry_hash(previous, entry),
        )
        return True

    def verify(self) -> Verification:
        previous = GENESIS
        for index, stored in enumerate(self.entries):
            entry = {k: v for k, v in stored.items() if k not in ("previous_hash", "hash")}
            if stored["previous_hash"] != previous:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "an entry before this one is missing or was replaced",
                )
            if entry_hash(previous, entry) != stored["hash"]:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "this entry was altered after it was recorded",
                )
            previous = stored["hash"]
        return Verification(True, len(self.entries), self.head_hash)


def causal_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time order, except that nothing comes before the event that caused it."""
    by_id = {e["event_id"]: e for e in entries}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(entry: dict[str, Any], visiting: frozenset[str]) -> None:
        if entry["event_id"] in placed:
            return
        cause = by_id.get(entry.get("causation_id") or "")
        if cause is not None and cause["event_id"] not in visiting:
            place(cause, visiting | {entry["event_id"]})
        ordered.append(entry)
        placed.add(entry["event_id"])

    for entry in sorted(entries, key=lambda e: e["time"]):
        place(entry, frozenset())
    return ordered
