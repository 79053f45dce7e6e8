"""What follow-up tells the other services (and, through its own topic, the case history):
every change of a case's clock, its handling, return visits, review and close-out."""

from __future__ import annotations

from typing import Any

from services.followup.domain import FollowUpCase as C
from services.followup.policy import STANDARD
from shared.envelope import CloudEvent, from_domain_event
from shared.messages import (
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
    dump,
)

WIRE_FIELDS = set(ScheduledDeadline.model_fields)


def deadline(d: dict[str, Any]) -> ScheduledDeadline:
    return ScheduledDeadline(**{k: v for k, v in d.items() if k in WIRE_FIELDS})


def escalates(d: dict[str, Any]) -> bool:
    """Whether a breach climbs the ladder; deadlines stored before it was recorded follow
    the standard policy's clock of their kind."""
    if "escalates" in d:
        return bool(d["escalates"])
    clock = STANDARD.clock(d["kind"])
    return clock.escalates if clock else True


def to_cloudevent(event: Any) -> CloudEvent | None:
    case_id = str(event.originator_id)
    message: Contract
    if isinstance(event, C.DeadlinesScheduled):
        message = DeadlinesScheduled(
            case_id=case_id, deadlines=[deadline(d) for d in event.deadlines]
        )
    elif isinstance(event, C.DeadlinesMet):
        message = DeadlinesMet(case_id=case_id, deadlines=event.ids, met_at=event.at)
    elif isinstance(event, C.DeadlinesSuperseded):
        message = DeadlinesSuperseded(
            case_id=case_id, deadlines=event.ids, reason=event.reason, at=event.at
        )
    elif isinstance(event, C.ReminderSent):
        d = event.deadline
        message = DeadlineReminder(
            case_id=case_id,
            deadline=d["id"],
            kind=d["kind"],
            due_at=d["due_at"],
            department=d.get("department"),
            responsible=d.get("responsible") or d.get("department"),
            rule=d["rule"],
        )
    elif isinstance(event, C.DeadlineBreached):
        d = event.deadline
        message = CaseOverdue(
            case_id=case_id,
            deadline=d["kind"],
            due_at=d["due_at"],
            department=d.get("department"),
            escalate=escalates(d),
            deadline_id=d["id"],
        )
    elif isinstance(event, C.SupervisionNoticeIssued):
        message = SupervisionNotice(
            case_id=case_id,
            number=event.number,
            department=event.department,
            text=event.text,
            automatic=event.automatic,
            deadline=event.deadline_id,
            issued_at=event.at,
        )
    elif isinstance(event, C.ClocksPaused):
        message = ClocksPaused(
            case_id=case_id, deadlines=event.ids, reason=event.reason, paused_at=event.at
        )
    elif isinstance(event, C.ClocksResumed):
        message = ClocksResumed(
            case_id=case_id,
            deadlines=[deadline(d) for d in event.deadlines],
            paused_seconds=event.paused_seconds,
            resumed_at=event.at,
        )
    elif isinstance(event, C.ExtensionGranted):
        message = DeadlineExtended(
            case_id=case_id,
            deadline=event.deadline_id,
            period=event.period,
            due_at=event.due_at,
            reason=event.reason,
            approved_by=event.approved_by,
        )
    elif isinstance(event, C.PlanFiled):
        message = HandlingReported(
            case_id=case_id,
            kind="plan",
            summary=event.summary,
            major=event.major,
            reported_at=event.at,
        )
    elif isinstance(event, C.ProgressReported):
        message = HandlingReported(
            case_id=case_id, kind="progress", summary=event.summary, reported_at=event.at
        )
    elif isinstance(event, C.LongTermPlanApproved):
        message = HandlingReported(
            case_id=case_id,
            kind="long-term-plan",
            summary=event.summary,
            target=event.target,
            reported_at=event.at,
        )
    elif isinstance(event, C.OutcomeRecorded):
        message = OutcomeRecorded(
            case_id=case_id,
            round=event.round,
            form=event.form,  # type: ignore[arg-type]
            opinion=event.opinion,  # type: ignore[arg-type]
            summary=event.summary,
            parts=event.parts,
            recorded_at=event.at,
        )
    elif isinstance(event, C.SatisfactionRecorded):
        message = SatisfactionRecorded(
            case_id=case_id,
            round=event.round,
            satisfaction=event.satisfaction,  # type: ignore[arg-type]
            notes=event.notes,
            source=event.source,  # type: ignore[arg-type]
            recorded_at=event.at,
        )
    elif isinstance(event, C.Reopened):
        message = CaseReopened(
            case_id=case_id, round=event.round, reason=event.reason, reopened_at=event.at
        )
    elif isinstance(event, C.CeaseCommitmentRecorded):
        message = CeaseCommitmentRecorded(case_id=case_id, note=event.note, recorded_at=event.at)
    elif isinstance(event, C.ClosedOut):
        message = CaseClosedOut(case_id=case_id, basis=event.basis, closed_at=event.at)
    elif isinstance(event, C.ReviewRequested):
        message = ReviewRequested(
            case_id=case_id,
            level=event.level,  # type: ignore[arg-type]
            organ=event.organ,
            reason=event.reason,
            requested_at=event.at,
        )
    elif isinstance(event, C.ReviewDecided):
        message = ReviewDecided(
            case_id=case_id,
            level=event.level,  # type: ignore[arg-type]
            decision=event.decision,  # type: ignore[arg-type]
            summary=event.summary,
            decided_at=event.at,
        )
    elif isinstance(event, C.BecameFinal):
        message = CaseFinal(case_id=case_id, summary=event.summary, final_at=event.at)
    else:
        return None
    return from_domain_event("followup", event, dump(message), message.TYPE)
