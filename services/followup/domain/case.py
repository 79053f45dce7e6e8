"""A case as follow-up tracks it: what the other services said of it, its handling to an
outcome, return visits and satisfaction, reopening, close-out, review and re-review,
and the visits to the petitioner that go on for as long as the petitioner needs them."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.followup.domain.clocks import CaseClocks, Rules
from services.followup.domain.errors import FollowUpRefused
from services.followup.domain.stored import record, records, revived
from services.followup.domain.vocabulary import (
    HANDED_ON,
    AttachmentKind,
    DeadlineKind,
    Milestone,
    Opinion,
    OutcomeForm,
    RatingSource,
    ReportKind,
    ReviewDecision,
    ReviewLevel,
    Satisfaction,
    Status,
    VisitKind,
)
from shared.domain import Actor, Attributed, Trace, attribution
from shared.policy import CaseAccess
from shared.territory import Location
from shared.vocabulary import Channel, Decision

# --- what the case knows, as values ----------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A department handling the case — its lead or a co-handler — as routing named it."""

    code: str
    name: str


@dataclass(frozen=True)
class Part:
    """What a co-handling department reported of its part, for the lead's outcome."""

    summary: str
    at: datetime


@dataclass(frozen=True)
class Report:
    """The lead's handling plan, a progress report, or a leader-approved long-term plan."""

    kind: ReportKind
    summary: str
    at: datetime


@dataclass(frozen=True)
class LongTermPlan:
    """A major matter's plan with a date, approved by a leader; the lead reports monthly."""

    summary: str
    approved_by: str
    target: datetime
    at: datetime


@dataclass(frozen=True)
class Outcome:
    """The outcome of one round of handling: its form, a handling opinion's answer, what was
    done, the co-handlers' parts (department code → part), and who recorded it."""

    round: int
    form: OutcomeForm
    opinion: Opinion | None
    summary: str
    parts: Mapping[str, str]
    by: str
    department: str | None
    at: datetime


@dataclass(frozen=True)
class Rating:
    """The petitioner's satisfaction with one round's outcome."""

    round: int
    satisfaction: Satisfaction
    notes: str
    source: RatingSource
    at: datetime


@dataclass(frozen=True)
class Reopening:
    """Found unsatisfying, the case is handled again in a new round."""

    round: int
    reason: str
    at: datetime


@dataclass(frozen=True)
class CeaseCommitment:
    """息诉罢访承诺书 — the petitioner's signed commitment to cease petitioning the matter."""

    note: str
    at: datetime


@dataclass(frozen=True)
class Closure:
    """销号 — the case closed out, on what basis, by whom."""

    basis: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Review:
    """A request for review or re-review of the handling opinion, and once decided, the
    reviewing organ's decision."""

    level: ReviewLevel
    organ: str
    reason: str
    requested_at: datetime
    decided_at: datetime | None = None
    decision: ReviewDecision | None = None
    summary: str | None = None

    @property
    def open(self) -> bool:
        return self.decided_at is None


@dataclass(frozen=True)
class Finality:
    """三级终结 — the matter ended after re-review: the same facts are not accepted again."""

    summary: str
    at: datetime


@dataclass(frozen=True)
class Visit:
    """走访 — staff went to see or called the petitioner: who, when, how, what was said, and
    who recorded it when. Long-term petitioners are visited for years, so a visit is
    recorded at any time, after close-out and after the matter is final too."""

    kind: VisitKind
    visited_by: str
    visited_at: datetime
    summary: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Attachment:
    """A file attached to the case — a letter, an ID scan, an agreement, a photo — known by
    the SHA-256 of its bytes, which the case's hash chain covers; the bytes live outside
    the event log, addressed by that hash. `petitioner_id` names whose personal data it is;
    once that petitioner is erased its bytes are gone (`erased_at`), its hash stays."""

    sha256: str
    name: str
    media_type: str
    size: int
    kind: AttachmentKind
    description: str | None
    petitioner_id: str | None
    added_by: str
    added_at: datetime
    erased_at: datetime | None = None


MAX_ATTACHMENT_NAME = 200


def check_attachment_name(name: str) -> str:
    """A file's name as it is shown and offered for download: a plain name, no folders, no
    control characters, no leading dot, at most `MAX_ATTACHMENT_NAME` characters."""
    name = name.strip()
    if not name:
        raise FollowUpRefused("the file has no name", field="file.filename")
    if len(name) > MAX_ATTACHMENT_NAME:
        raise FollowUpRefused(
            f"a file's name is at most {MAX_ATTACHMENT_NAME} characters", field="file.filename"
        )
    if any(c in name for c in '/\\:*?"<>|') or name.startswith(".") or not name.isprintable():
        raise FollowUpRefused(
            "a file's name is a plain name: no folders, no control characters, none of "
            '/ \\ : * ? " < > |, not starting with a dot',
            field="file.filename",
        )
    return name


def happened_at(event: object) -> datetime:
    """When what an event of a case records happened: the time it has in the case's history.
    For what follow-up noted of another service's event, when that event happened (its
    `happened`) — follow-up hears it later, by as much as its consumer is behind; for
    follow-up's own doing, when it was stored."""
    happened = getattr(event, "happened", None) or getattr(event, "timestamp", None)
    assert isinstance(happened, datetime), event
    return happened


class FollowUpCase(CaseClocks):
    """A case as follow-up tracks it until it is closed out or final: its clocks
    (`CaseClocks`), its handling to an outcome, return visits, review and re-review, and
    the visits that follow it.

    It learns of registration and assignment from topics that may arrive in either order,
    so each note stands on its own and the status is derived from what is known.
    """

    class Opened(Aggregate.Created):
        pass

    class RegistrationNoted(Aggregate.Event):
        class_version = 2
        subject: str
        category: str
        location: Location
        registered_at: datetime
        first_receiver: str
        channel: str | None = None
        group_size: int | None = None
        petitioner_ids: Sequence[str] = ()
        lookup_code_hash: str | None = None

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored the location as the JSON object the contract carried."""
            state["location"] = Location.of(dict(record(state["location"])))

        @property
        def happened(self) -> datetime:
            return self.registered_at

        def apply(self, case: FollowUpCase) -> None:
            case.subject = self.subject
            case.category = self.category
            case.location = self.location
            case.registered_at = self.registered_at
            case.first_receiver = self.first_receiver
            case.channel = Channel(self.channel) if self.channel else None
            case.group_size = self.group_size
            case.petitioner_ids = list(self.petitioner_ids)
            case.lookup_code_hash = self.lookup_code_hash
            case.major = case.major or bool(self.group_size)

    class AssignmentNoted(Aggregate.Event):
        class_version = 2
        lead: Unit
        co_handlers: list[Unit]
        assigned_at: datetime

        @staticmethod
        def upcast_v1_v2(state: MutableMapping[str, object]) -> None:
            """Version 1 stored each department as a JSON object of its code and name."""
            state["lead"] = revived(Unit, record(state["lead"]))
            state["co_handlers"] = [revived(Unit, d) for d in records(state["co_handlers"])]

        @property
        def happened(self) -> datetime:
            return self.assigned_at

        def apply(self, case: FollowUpCase) -> None:
            case.lead = self.lead
            case.co_handlers = list(self.co_handlers)
            case.assigned_at = self.assigned_at

    class ManualDispatchNoted(Aggregate.Event):
        reason: str
        at: datetime | None = None
        """When routing queued the case (None: noted before it was recorded)."""

        @property
        def happened(self) -> datetime:
            return self.at or self.timestamp

        def apply(self, case: FollowUpCase) -> None:
            case.manual_dispatch_reason = self.reason

    class AcceptanceNoted(Aggregate.Event):
        """Intake decided acceptance: the written notice owed within 15 days is given."""

        decision: str
        decided_at: datetime

        @property
        def happened(self) -> datetime:
            return self.decided_at

        def apply(self, case: FollowUpCase) -> None:
            case.acceptance = Decision(self.decision)
            case.acceptance_decided_at = self.decided_at
            case.deadlines = [
                replace(d, met_at=self.decided_at)
                if d.kind is DeadlineKind.ACCEPTANCE_NOTICE and d.met_at is None
                else d
                for d in case.deadlines
            ]

    class EscalationNoted(Aggregate.Event):
        level: str
        at: datetime

        @property
        def happened(self) -> datetime:
            return self.at

        def apply(self, case: FollowUpCase) -> None:
            case.level = self.level

    class RepeatNoted(Aggregate.Event):
        at: datetime

        @property
        def happened(self) -> datetime:
            return self.at

        def apply(self, case: FollowUpCase) -> None:
            case.repeats.append(self.at)

    class RestrictionNoted(Aggregate.Event):
        """An accusation: these units never read the case (Art. 30)."""

        barred: list[str]
        at: datetime | None = None
        """When routing restricted the case (None: noted before it was recorded)."""

        @property
        def happened(self) -> datetime:
            return self.at or self.timestamp

        def apply(self, case: FollowUpCase) -> None:
            case.barred = sorted(set(case.barred) | set(self.barred))

    class PartNoted(Aggregate.Event):
        department: str
        summary: str
        at: datetime

        @property
        def happened(self) -> datetime:
            return self.at

        def apply(self, case: FollowUpCase) -> None:
            case.parts[self.department] = Part(self.summary, self.at)

    class PlanFiled(Attributed):
        summary: str
        major: bool
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.major = case.major or self.major
            case.reports.append(Report(ReportKind.PLAN, self.summary, self.at))

    class LongTermPlanApproved(Attributed):
        summary: str
        approved_by: str
        target: datetime
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.long_term_plan = LongTermPlan(self.summary, self.approved_by, self.target, self.at)
            case.reports.append(Report(ReportKind.LONG_TERM_PLAN, self.summary, self.at))

    class ProgressReported(Attributed):
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.reports.append(Report(ReportKind.PROGRESS, self.summary, self.at))

    class OutcomeRecorded(Attributed):
        round: int
        form: str
        opinion: str | None
        summary: str
        parts: dict[str, str]
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.outcomes.append(
                Outcome(
                    round=self.round,
                    form=OutcomeForm(self.form),
                    opinion=Opinion(self.opinion) if self.opinion else None,
                    summary=self.summary,
                    parts=dict(self.parts),
                    by=self.actor["user"],
                    department=self.actor.get("department"),
                    at=self.at,
                )
            )

    class SatisfactionRecorded(Attributed):
        round: int
        satisfaction: str
        notes: str
        source: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.ratings.append(
                Rating(
                    self.round,
                    Satisfaction(self.satisfaction),
                    self.notes,
                    RatingSource(self.source),
                    self.at,
                )
            )

    class Reopened(Attributed):
        round: int
        reason: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.round = self.round
            case.reopenings.append(Reopening(self.round, self.reason, self.at))

    class CeaseCommitmentRecorded(Attributed):
        note: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.cease_commitment = CeaseCommitment(self.note, self.at)

    class ClosedOut(Attributed):
        basis: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.closed_out = Closure(self.basis, self.actor["user"], self.at)

    class ReviewRequested(Attributed):
        level: str
        organ: str
        reason: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.reviews.append(Review(ReviewLevel(self.level), self.organ, self.reason, self.at))

    class ReviewDecided(Attributed):
        level: str
        decision: str
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            decided = replace(
                case.reviews[-1],
                decided_at=self.at,
                decision=ReviewDecision(self.decision),
                summary=self.summary,
            )
            case.reviews[-1] = decided

    class BecameFinal(Attributed):
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.final = Finality(self.summary, self.at)

    class VisitRecorded(Attributed):
        kind: str
        visited_by: str
        visited_at: datetime
        summary: str
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.visits.append(
                Visit(
                    VisitKind(self.kind),
                    self.visited_by,
                    self.visited_at,
                    self.summary,
                    recorded_by=self.actor["user"],
                    recorded_at=self.at,
                )
            )

    class AttachmentAdded(Attributed):
        """A file was attached; the chain covers its hash (the bytes are stored apart)."""

        sha256: str
        name: str
        media_type: str
        size: int
        kind: str
        description: str | None
        petitioner_id: str | None
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.attachments.append(
                Attachment(
                    self.sha256,
                    self.name,
                    self.media_type,
                    self.size,
                    AttachmentKind(self.kind),
                    self.description,
                    self.petitioner_id,
                    added_by=self.actor["user"],
                    added_at=self.at,
                )
            )

    class PetitionerErased(Attributed):
        """Intake erased a petitioner of the case: the bytes of the attachments holding
        their personal data were destroyed (the hashes stay in the chain)."""

        petitioner_id: str
        attachments: tuple[str, ...]
        at: datetime

        def apply(self, case: FollowUpCase) -> None:
            gone = set(self.attachments)
            case.attachments = [
                replace(a, erased_at=self.at) if a.sha256 in gone and a.erased_at is None else a
                for a in case.attachments
            ]
            case.erased_petitioners.append(self.petitioner_id)

    def __init__(self) -> None:
        super().__init__()
        self.attachments: list[Attachment] = []
        self.erased_petitioners: list[str] = []
        self.subject: str | None = None
        self.category: str | None = None
        self.location: Location | None = None
        self.registered_at: datetime | None = None
        self.first_receiver: str | None = None
        self.channel: Channel | None = None
        self.group_size: int | None = None
        self.petitioner_ids: list[str] = []
        self.lookup_code_hash: str | None = None
        self.lead: Unit | None = None
        self.co_handlers: list[Unit] = []
        self.assigned_at: datetime | None = None
        self.manual_dispatch_reason: str | None = None
        self.acceptance: Decision | None = None
        self.acceptance_decided_at: datetime | None = None
        self.level = "window"
        self.repeats: list[datetime] = []
        self.parts: dict[str, Part] = {}
        self.barred: list[str] = []
        self.major = False
        self.reports: list[Report] = []
        self.long_term_plan: LongTermPlan | None = None
        self.round = 1
        self.outcomes: list[Outcome] = []
        self.ratings: list[Rating] = []
        self.reopenings: list[Reopening] = []
        self.cease_commitment: CeaseCommitment | None = None
        self.closed_out: Closure | None = None
        self.reviews: list[Review] = []
        self.final: Finality | None = None
        self.visits: list[Visit] = []

    @classmethod
    def open(cls, case_id: UUID) -> FollowUpCase:
        return cls._create(cls.Opened, id=case_id)

    # --- what the case is now -----------------------------------------------------------

    @property
    def status(self) -> Status:
        review = self.reviews[-1] if self.reviews else None
        if self.final:
            return Status.FINAL
        if review and review.open:
            return (
                Status.UNDER_REVIEW
                if review.level is ReviewLevel.REVIEW
                else Status.UNDER_RE_REVIEW
            )
        if self.closed_out:
            return Status.CLOSED_OUT
        if self.acceptance is Decision.DECLINE:
            return Status.DECLINED
        if self.acceptance is Decision.DIVERT:
            return Status.DIVERTED
        if self.outcome:
            return Status.RESOLVED
        if self.reopenings and self.reopenings[-1].round == self.round:
            since = self.reopenings[-1].at
            if not any(r.at >= since for r in self.reports):
                return Status.REOPENED
        if self.lead:
            return Status.IN_PROGRESS if self.reports else Status.ASSIGNED
        if self.manual_dispatch_reason:
            return Status.AWAITING_MANUAL_DISPATCH
        return Status.REGISTERED if self.registered_at else Status.PENDING_REGISTRATION

    @property
    def outcome(self) -> Outcome | None:
        """The outcome of the current round of handling, if there is one yet."""
        last = self.outcomes[-1] if self.outcomes else None
        return last if last and last.round == self.round else None

    @property
    def rating(self) -> Rating | None:
        """The satisfaction recorded for the current round's outcome."""
        last = self.ratings[-1] if self.ratings else None
        return last if last and last.round == self.round else None

    @property
    def open_review(self) -> Review | None:
        return self.reviews[-1] if self.reviews and self.reviews[-1].open else None

    # --- notes of other services' events ---------------------------------------------------

    def note_registration(
        self,
        *,
        subject: str,
        category: str,
        location: Location,
        registered_at: datetime,
        first_receiver: str,
        trace: Trace,
        rules: Rules,
        notice_required: bool = True,
        channel: Channel | None = None,
        group_size: int | None = None,
        petitioner_ids: tuple[str, ...] = (),
        lookup_code_hash: str | None = None,
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
        skip = () if notice_required else (DeadlineKind.ACCEPTANCE_NOTICE,)
        self._schedule(Milestone.REGISTERED, registered_at, trace, rules, skip=skip)

    def note_acceptance(
        self, decision: Decision, decided_at: datetime, trace: Trace, rules: Rules
    ) -> None:
        self.trigger_event(self.AcceptanceNoted, decision=decision, decided_at=decided_at)
        if decision is Decision.ACCEPT:
            self._schedule(Milestone.ACCEPTED, decided_at, trace, rules)
        else:  # declined or diverted: the matter is not handled here, its clocks stop
            self._supersede(self.running(), decided_at, f"the case was {decision}d", trace)

    def note_assignment(
        self,
        *,
        lead: Unit,
        co_handlers: list[Unit],
        assigned_at: datetime,
        trace: Trace,
        rules: Rules,
    ) -> None:
        """A new lead gets its own 13710 clocks, the old lead's stop; a confirmed lead (a
        joint meeting naming the same department) keeps the clocks it had."""
        new_lead = self.lead is None or self.lead.code != lead.code
        self.trigger_event(
            self.AssignmentNoted, lead=lead, co_handlers=co_handlers, assigned_at=assigned_at
        )
        if not new_lead:
            return
        handed_on = [
            d
            for d in self.running(HANDED_ON)
            if d.starts_on in (None, Milestone.ASSIGNED)  # None: stored before it was recorded
        ]
        self._supersede(handed_on, assigned_at, f"the case was re-assigned to {lead.code}", trace)
        self._schedule(Milestone.ASSIGNED, assigned_at, trace, rules)

    def note_manual_dispatch(self, reason: str, at: datetime) -> None:
        self.trigger_event(self.ManualDispatchNoted, reason=reason, at=at)

    def note_escalation(self, level: str, at: datetime) -> None:
        self.trigger_event(self.EscalationNoted, level=level, at=at)

    def note_repeat(self, at: datetime) -> None:
        self.trigger_event(self.RepeatNoted, at=at)

    def note_restriction(self, barred: list[str], at: datetime) -> None:
        self.trigger_event(self.RestrictionNoted, barred=barred, at=at)

    @property
    def access(self) -> CaseAccess:
        """What the visibility policy decides this case's readers by."""
        handlers = [u.code for u in (self.lead, *self.co_handlers) if u is not None]
        return CaseAccess(
            first_receiver=self.first_receiver,
            departments=frozenset(handlers),
            barred=frozenset(self.barred),
        )

    def note_part(self, department: str, summary: str, at: datetime) -> None:
        self.trigger_event(self.PartNoted, department=department, summary=summary, at=at)

    # --- handling to an outcome ------------------------------------------------------------

    def check_lead_department(self, actor: Actor, doing: str) -> None:
        """A handler acts on a case only for its lead department."""
        if actor.role != "handler":
            return
        if self.lead is None:
            raise FollowUpRefused(
                f"the case has no lead department yet: no handler {doing}", field="department"
            )
        if actor.department != self.lead.code:
            raise FollowUpRefused(
                f"only the lead department ({self.lead.code}) {doing}", field="department"
            )

    def check_handling(self, actor: Actor) -> None:
        """The case is being handled and the actor may report on it."""
        if self.final or self.closed_out:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        if self.lead is None:
            raise FollowUpRefused("the case has no lead department yet", field="case_id")
        if self.outcome:
            raise FollowUpRefused(
                "the case already has its outcome; a return visit found unsatisfied reopens it",
                field="case_id",
            )
        self.check_lead_department(
            actor,
            "reports on the case; co-handlers report their part to the lead through routing",
        )

    def file_plan(
        self, summary: str, major: bool, actor: Actor, trace: Trace, at: datetime, rules: Rules
    ) -> None:
        self.check_handling(actor)
        became_major = major and not self.major
        self.trigger_event(
            self.PlanFiled, summary=summary, major=major, at=at, **attribution(actor, trace)
        )
        self._milestone(Milestone.PLAN, at, actor, trace, rules)
        if became_major:  # the 7-day clock gives way to the month a major matter has
            ordinary = self.running((DeadlineKind.RESOLUTION,))
            self._supersede(ordinary, at, "the plan found the matter major", trace, actor)
            start = ordinary[0].starts_at if ordinary else at
            self._schedule(
                Milestone.ASSIGNED,
                start,
                trace,
                rules,
                only=(DeadlineKind.RESOLUTION,),
                actor=actor,
            )

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
        self.check_handling(actor)
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
        for d in self.running((DeadlineKind.RESOLUTION,)):
            self._extend(d, target, f"leader-approved plan: {summary}", actor, trace, at, rules)
        self._milestone(Milestone.LONG_TERM_PLAN, at, actor, trace, rules)

    def report_progress(
        self, summary: str, actor: Actor, trace: Trace, at: datetime, rules: Rules
    ) -> None:
        self.check_handling(actor)
        self.trigger_event(
            self.ProgressReported, summary=summary, at=at, **attribution(actor, trace)
        )
        self._milestone(Milestone.PROGRESS, at, actor, trace, rules)

    def record_outcome(
        self,
        *,
        form: OutcomeForm,
        opinion: Opinion | None,
        summary: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """The lead's handling opinion or a mediation or settlement agreement, with the
        co-handlers' parts."""
        self.check_handling(actor)
        if form is OutcomeForm.OPINION and opinion is None:
            raise FollowUpRefused(
                f"a handling opinion is one of {', '.join(Opinion)}", field="opinion"
            )
        missing = [c.code for c in self.co_handlers if c.code not in self.parts]
        if missing:
            raise FollowUpRefused(
                f"co-handlers have not reported their part yet: {', '.join(missing)}",
                field="parts",
            )
        self.trigger_event(
            self.OutcomeRecorded,
            round=self.round,
            form=form,
            opinion=opinion if form is OutcomeForm.OPINION else None,
            summary=summary,
            parts={code: part.summary for code, part in self.parts.items()},
            at=at,
            **attribution(actor, trace),
        )
        self._milestone(Milestone.OUTCOME, at, actor, trace, rules)

    # --- return visit, satisfaction, close-out -------------------------------------------

    def record_satisfaction(
        self,
        *,
        satisfaction: Satisfaction,
        notes: str,
        source: RatingSource,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        """A return visit's answer or the petitioner's own rating; unsatisfied reopens the
        handling with a fresh resolution clock (案结事了)."""
        if self.closed_out or self.final:
            raise FollowUpRefused(f"the case is {self.status}", field="case_id")
        if not self.outcome:
            raise FollowUpRefused("there is no outcome to rate yet", field="case_id")
        if self.rating:
            raise FollowUpRefused(
                f"this outcome was already rated {self.rating.satisfaction}", field="case_id"
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
        self._milestone(Milestone.RATED, at, actor, trace, rules)
        if satisfaction is Satisfaction.UNSATISFIED:
            self.trigger_event(
                self.Reopened,
                round=self.round + 1,
                reason=notes or "the petitioner is not satisfied with the outcome",
                at=at,
                **attribution(actor, trace),
            )
            self._milestone(Milestone.REOPENED, at, actor, trace, rules)

    def record_cease_commitment(self, note: str, actor: Actor, trace: Trace, at: datetime) -> None:
        if not self.outcomes:
            raise FollowUpRefused("a cease-petition commitment follows an outcome", field="case_id")
        if self.cease_commitment:
            raise FollowUpRefused("the commitment is already recorded", field="case_id")
        self.trigger_event(
            self.CeaseCommitmentRecorded, note=note, at=at, **attribution(actor, trace)
        )

    def close_out(self, actor: Actor, trace: Trace, at: datetime, rules: Rules) -> None:
        """Only when the policy says the matter is settled."""
        if self.closed_out or self.final:
            raise FollowUpRefused(f"the case is already {self.status}", field="case_id")
        if not self.outcome:
            raise FollowUpRefused(
                "a case is closed out after its outcome (and return visit)", field="case_id"
            )
        if self.open_review:
            raise FollowUpRefused("a review of the case is still open", field="case_id")
        rating = self.rating.satisfaction if self.rating else None
        refusal = rules.policy.close_out.refusal(rating, self.cease_commitment is not None)
        if refusal:
            raise FollowUpRefused(refusal, field="case_id")
        basis = f"return visit: {rating}" if rating else "cease-petition commitment signed"
        self.trigger_event(self.ClosedOut, basis=basis, at=at, **attribution(actor, trace))
        self._supersede(self.running(), at, "the case was closed out", trace, actor)

    # --- review and re-review (Arts. 35–36) ----------------------------------------------

    def request_review(
        self,
        level: ReviewLevel,
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
        done = {r.level for r in self.reviews}
        if level in done:
            raise FollowUpRefused(f"a {level} was already requested", field="level")
        if level is ReviewLevel.REVIEW:
            if not self.outcomes:
                raise FollowUpRefused(
                    "a review is of a handling opinion; there is none yet", field="level"
                )
            reply = self.outcomes[-1].at
        else:
            decided = self.reviews[-1].decided_at if self.reviews else None
            if ReviewLevel.REVIEW not in done or decided is None:
                raise FollowUpRefused("a re-review follows a decided review", field="level")
            reply = decided
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
        self._milestone(level.requested, at, actor, trace, rules, responsible=organ)

    def decide_review(
        self,
        decision: ReviewDecision,
        summary: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
        rules: Rules,
    ) -> None:
        review = self.open_review
        if review is None:
            raise FollowUpRefused("no review is waiting for a decision", field="case_id")
        self.trigger_event(
            self.ReviewDecided,
            level=review.level,
            decision=decision,
            summary=summary,
            at=at,
            **attribution(actor, trace),
        )
        self._milestone(review.level.decided, at, actor, trace, rules)
        if review.level is ReviewLevel.RE_REVIEW:
            self.trigger_event(
                self.BecameFinal, summary=summary, at=at, **attribution(actor, trace)
            )
            self._supersede(self.running(), at, "the matter is final", trace, actor)

    # --- visits, for as long as the petitioner needs them --------------------------------------

    def check_visit(
        self, visited_by: str, visited_at: datetime, summary: str, actor: Actor, at: datetime
    ) -> None:
        """A visit is told by whom and what was said, and was made while the case existed
        and not later than now."""
        self.check_lead_department(actor, "records visits")
        if not visited_by.strip():
            raise FollowUpRefused("name who visited or called the petitioner", field="visited_by")
        if not summary.strip():
            raise FollowUpRefused("say what was said at the visit", field="summary")
        if visited_at > at:
            raise FollowUpRefused(
                f"a visit is recorded once made; {visited_at.isoformat()} is in the future",
                field="visited_at",
            )
        if self.registered_at is not None and visited_at < self.registered_at:
            raise FollowUpRefused(
                f"the visit was before the case was registered ({self.registered_at.isoformat()})",
                field="visited_at",
            )

    def add_attachment(
        self,
        *,
        sha256: str,
        name: str,
        media_type: str,
        size: int,
        kind: AttachmentKind,
        description: str | None,
        petitioner_id: str | None,
        actor: Actor,
        trace: Trace,
        at: datetime,
    ) -> None:
        """Attach a file already stored under its hash, at any time (a letter at the door, an
        agreement at the outcome, a photo of the repair after close-out)."""
        name = self.check_attachment(name, kind, petitioner_id, actor, media_type)
        self.trigger_event(
            self.AttachmentAdded,
            sha256=sha256,
            name=name,
            media_type=media_type,
            size=size,
            kind=kind,
            description=(description or "").strip() or None,
            petitioner_id=petitioner_id,
            at=at,
            **attribution(actor, trace),
        )

    def check_attachment(
        self,
        name: str,
        kind: AttachmentKind,
        petitioner_id: str | None,
        actor: Actor,
        media_type: str = "",
    ) -> str:
        """A handler attaches for the lead department; the file has a plain name; a
        petitioner it names is one of the case's, not erased; an identity document names
        whose it is. Returns the name as it is kept: a petitioner's file is kept by its kind
        (`identity-document.jpg`), since its own name is often theirs, and a store of
        events is no place for what must be erased."""
        self.check_lead_department(actor, "attaches files")
        name = check_attachment_name(name)
        if petitioner_id is not None and petitioner_id not in self.petitioner_ids:
            raise FollowUpRefused("not a petitioner of this case", field="petitioner_id")
        if kind is AttachmentKind.IDENTITY and petitioner_id is None:
            raise FollowUpRefused(
                "say whose identity document it is (it is erased with them)",
                field="petitioner_id",
            )
        if petitioner_id is not None and petitioner_id in self.erased_petitioners:
            raise FollowUpRefused("this petitioner's data was erased", field="petitioner_id")
        if petitioner_id is not None:
            extension = media_type.rsplit("/", 1)[-1].replace("plain", "txt").replace("jpeg", "jpg")
            return f"{kind.value}.{extension}"
        return name

    def attachment(self, sha256: str) -> Attachment | None:
        return next((a for a in self.attachments if a.sha256 == sha256), None)

    def erasable_attachments(self, petitioner_id: str) -> list[str]:
        """The hashes of the attachments holding this petitioner's personal data."""
        return [
            a.sha256
            for a in self.attachments
            if a.petitioner_id == petitioner_id and a.kind.personal and a.erased_at is None
        ]

    def note_erasure(
        self, petitioner_id: str, erased: Sequence[str], actor: Actor, trace: Trace, at: datetime
    ) -> None:
        if petitioner_id in self.erased_petitioners:
            return
        self.trigger_event(
            self.PetitionerErased,
            petitioner_id=petitioner_id,
            attachments=tuple(erased),
            at=at,
            **attribution(actor, trace),
        )

    def record_visit(
        self,
        *,
        kind: VisitKind,
        visited_by: str,
        visited_at: datetime,
        summary: str,
        actor: Actor,
        trace: Trace,
        at: datetime,
    ) -> None:
        """A visit or a call to the petitioner, recorded at any time — also once the case is
        closed out or final: it starts and stops no clock."""
        self.check_visit(visited_by, visited_at, summary, actor, at)
        self.trigger_event(
            self.VisitRecorded,
            kind=kind,
            visited_by=visited_by.strip(),
            visited_at=visited_at,
            summary=summary.strip(),
            at=at,
            **attribution(actor, trace),
        )
