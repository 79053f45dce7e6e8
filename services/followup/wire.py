"""What follow-up tells the other services (and, as it saves them, the case history):
every change of a case's clock, its handling, return visits, review, close-out and the
visits after it; and the holiday years an admin publishes, for the other services to count
working days with. What other services told follow-up (the notes) and the history's entries
stay inside: they are on the wire already, as the other services' events."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.followup.domain import CaseHistory, Deadline, HolidayCalendar
from services.followup.domain import FollowUpCase as C
from services.followup.domain.vocabulary import AttachmentKind
from services.followup.policy import STANDARD
from shared.messages import (
    AttachmentAdded,
    AttachmentsErased,
    CalendarPublished,
    CaseClosedOut,
    CaseFinal,
    CaseOverdue,
    CaseReopened,
    CeaseCommitmentRecorded,
    ClocksPaused,
    ClocksResumed,
    Contract,
    DeadlineExtended,
    DeadlineReminder,
    DeadlinesMet,
    DeadlinesScheduled,
    DeadlinesSuperseded,
    HandlingReported,
    OutcomeRecorded,
    ReviewDecided,
    ReviewRequested,
    SatisfactionRecorded,
    ScheduledDeadline,
    SupervisionNotice,
    VisitRecorded,
)
from shared.registry import REPLICA_EVENTS
from shared.wiring import Wire

WIRE = Wire("followup")
WIRE.internal(
    C.Opened,
    C.RegistrationNoted,
    C.AssignmentNoted,
    C.ManualDispatchNoted,
    C.AcceptanceNoted,
    C.EscalationNoted,
    C.RepeatNoted,
    C.RestrictionNoted,
    C.PartNoted,
    HolidayCalendar.Started,
    CaseHistory.Started,
    CaseHistory.EntryRecorded,
    *REPLICA_EVENTS,
)


def deadline(d: Deadline) -> ScheduledDeadline:
    return ScheduledDeadline(
        kind=d.kind.value,
        due_at=d.due_at,
        starts_at=d.starts_at,
        rule=d.rule,
        legal_basis=d.legal_basis,
        id=d.id,
        remind_at=d.remind_at,
        department=d.department,
    )


def escalates(d: Deadline) -> bool:
    """Whether a breach climbs the ladder; deadlines stored before it was recorded follow
    the standard policy's clock of their kind."""
    if d.escalates is not None:
        return d.escalates
    clock = STANDARD.clock(d.kind)
    return clock.escalates if clock else True


def case_of(event: Any) -> str:
    return str(event.originator_id)


# --- the clocks ---------------------------------------------------------------------------


@WIRE.maps(C.DeadlinesScheduled)
def _scheduled(event: C.DeadlinesScheduled) -> Contract:
    return DeadlinesScheduled(
        case_id=case_of(event), deadlines=[deadline(d) for d in event.deadlines]
    )


@WIRE.maps(C.DeadlinesMet)
def _met(event: C.DeadlinesMet) -> Contract:
    return DeadlinesMet(case_id=case_of(event), deadlines=event.ids, met_at=event.at)


@WIRE.maps(C.DeadlinesSuperseded)
def _superseded(event: C.DeadlinesSuperseded) -> Contract:
    return DeadlinesSuperseded(
        case_id=case_of(event), deadlines=event.ids, reason=event.reason, at=event.at
    )


@WIRE.maps(C.ReminderSent)
def _reminder(event: C.ReminderSent) -> Contract:
    d = event.deadline
    return DeadlineReminder(
        case_id=case_of(event),
        deadline=d.key,
        kind=d.kind.value,
        due_at=d.due_at,
        department=d.department,
        responsible=d.responsible or d.department,
        rule=d.rule,
    )


@WIRE.maps(C.DeadlineBreached)
def _overdue(event: C.DeadlineBreached) -> Contract:
    d = event.deadline
    return CaseOverdue(
        case_id=case_of(event),
        deadline=d.kind.value,
        due_at=d.due_at,
        department=d.department,
        escalate=escalates(d),
        deadline_id=d.key,
    )


@WIRE.maps(C.SupervisionNoticeIssued)
def _notice(event: C.SupervisionNoticeIssued) -> Contract:
    return SupervisionNotice(
        case_id=case_of(event),
        number=event.number,
        department=event.department,
        text=event.text,
        automatic=event.automatic,
        deadline=event.deadline_id,
        issued_at=event.at,
    )


@WIRE.maps(C.ClocksPaused)
def _paused(event: C.ClocksPaused) -> Contract:
    return ClocksPaused(
        case_id=case_of(event), deadlines=event.ids, reason=event.reason, paused_at=event.at
    )


@WIRE.maps(C.ClocksResumed)
def _resumed(event: C.ClocksResumed) -> Contract:
    return ClocksResumed(
        case_id=case_of(event),
        deadlines=[deadline(d) for d in event.deadlines],
        paused_seconds=event.paused_seconds,
        resumed_at=event.at,
    )


@WIRE.maps(C.ExtensionGranted)
def _extended(event: C.ExtensionGranted) -> Contract:
    return DeadlineExtended(
        case_id=case_of(event),
        deadline=event.deadline_id,
        period=event.period,
        due_at=event.due_at,
        reason=event.reason,
        approved_by=event.approved_by,
    )


# --- handling, return visit, close-out, review ---------------------------------------------


@WIRE.maps(C.PlanFiled)
def _plan(event: C.PlanFiled) -> Contract:
    return HandlingReported(
        case_id=case_of(event),
        kind="plan",
        summary=event.summary,
        major=event.major,
        reported_at=event.at,
    )


@WIRE.maps(C.ProgressReported)
def _progress(event: C.ProgressReported) -> Contract:
    return HandlingReported(
        case_id=case_of(event), kind="progress", summary=event.summary, reported_at=event.at
    )


@WIRE.maps(C.LongTermPlanApproved)
def _long_term_plan(event: C.LongTermPlanApproved) -> Contract:
    return HandlingReported(
        case_id=case_of(event),
        kind="long-term-plan",
        summary=event.summary,
        target=event.target,
        reported_at=event.at,
    )


@WIRE.maps(C.OutcomeRecorded)
def _outcome(event: C.OutcomeRecorded) -> Contract:
    return OutcomeRecorded(
        case_id=case_of(event),
        round=event.round,
        form=event.form,  # type: ignore[arg-type]
        opinion=event.opinion,  # type: ignore[arg-type]
        summary=event.summary,
        parts=event.parts,
        recorded_at=event.at,
    )


@WIRE.maps(C.SatisfactionRecorded)
def _satisfaction(event: C.SatisfactionRecorded) -> Contract:
    return SatisfactionRecorded(
        case_id=case_of(event),
        round=event.round,
        satisfaction=event.satisfaction,  # type: ignore[arg-type]
        notes=event.notes,
        source=event.source,  # type: ignore[arg-type]
        recorded_at=event.at,
    )


@WIRE.maps(C.Reopened)
def _reopened(event: C.Reopened) -> Contract:
    return CaseReopened(
        case_id=case_of(event), round=event.round, reason=event.reason, reopened_at=event.at
    )


@WIRE.maps(C.CeaseCommitmentRecorded)
def _commitment(event: C.CeaseCommitmentRecorded) -> Contract:
    return CeaseCommitmentRecorded(case_id=case_of(event), note=event.note, recorded_at=event.at)


@WIRE.maps(C.ClosedOut)
def _closed_out(event: C.ClosedOut) -> Contract:
    return CaseClosedOut(case_id=case_of(event), basis=event.basis, closed_at=event.at)


@WIRE.maps(C.ReviewRequested)
def _review_requested(event: C.ReviewRequested) -> Contract:
    return ReviewRequested(
        case_id=case_of(event),
        level=event.level,  # type: ignore[arg-type]
        organ=event.organ,
        reason=event.reason,
        requested_at=event.at,
    )


@WIRE.maps(C.ReviewDecided)
def _review_decided(event: C.ReviewDecided) -> Contract:
    return ReviewDecided(
        case_id=case_of(event),
        level=event.level,  # type: ignore[arg-type]
        decision=event.decision,  # type: ignore[arg-type]
        summary=event.summary,
        decided_at=event.at,
    )


@WIRE.maps(C.BecameFinal)
def _final(event: C.BecameFinal) -> Contract:
    return CaseFinal(case_id=case_of(event), summary=event.summary, final_at=event.at)


@WIRE.maps(C.VisitRecorded)
def _visit(event: C.VisitRecorded) -> Contract:
    return VisitRecorded(
        case_id=case_of(event),
        kind=event.kind,  # type: ignore[arg-type]
        visited_by=event.visited_by,
        visited_at=event.visited_at,
        summary=event.summary,
        recorded_at=event.at,
    )


# --- the work calendar ------------------------------------------------------------------------


@WIRE.maps(HolidayCalendar.YearPublished)
def _calendar(event: HolidayCalendar.YearPublished) -> Contract:
    return CalendarPublished(
        year=event.year,
        holidays=[date.fromisoformat(d) for d in event.holidays],
        make_up_days=[date.fromisoformat(d) for d in event.make_up_days],
        published_at=event.timestamp,
    )


to_cloudevent = WIRE.to_cloudevent
publishes = WIRE.publishes


@WIRE.maps(C.AttachmentAdded)
def _attachment(event: C.AttachmentAdded) -> Contract:
    return AttachmentAdded(
        case_id=case_of(event),
        sha256=event.sha256,
        media_type=event.media_type,
        size=event.size,
        kind=AttachmentKind(event.kind).value,
        petitioner_id=event.petitioner_id,
        added_at=event.at,
    )


@WIRE.maps(C.PetitionerErased)
def _erased(event: C.PetitionerErased) -> Contract:
    return AttachmentsErased(
        case_id=case_of(event),
        petitioner_id=event.petitioner_id,
        attachments=list(event.attachments),
        erased_at=event.at,
    )
