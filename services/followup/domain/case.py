"""A case as follow-up tracks it: what the other services said of it, its handling to an
outcome, return visits and satisfaction, reopening, close-out (销号), review and re-review."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.followup.domain.clocks import STANDARD_RULES, CaseClocks, Rules
from services.followup.domain.errors import FollowUpRefused
from services.followup.policy import SATISFACTION
from shared.domain import Actor, Attributed, Trace, attribution

OPINIONS = ("support", "explain", "not-support")  # 支持 / 解释说明 / 不予支持 (Art. 32)
FORMS = ("opinion", "agreement")  # a handling opinion, or a mediation/settlement agreement (33)
REVIEW_LEVELS = ("review", "re-review")
REVIEW_DECISIONS = ("upheld", "revised", "revoked")


class FollowUpCase(CaseClocks):
    """A case as follow-up tracks it until it is closed out (销号) or final: its clocks
    (`CaseClocks`), its handling to an outcome, return visits, and review and re-review.

    It learns of registration and assignment from topics that may arrive in either order,
    so each note stands on its own and the status is derived from what is known.
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
        super().__init__()
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
        rules: Rules = STANDARD_RULES,
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
        self, decision: str, decided_at: datetime, trace: Trace, rules: Rules = STANDARD_RULES
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
        rules: Rules = STANDARD_RULES,
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
