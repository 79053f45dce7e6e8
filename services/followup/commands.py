"""What people ask follow-up to do, one command per action the API offers: built once by
the API from a valid request, handled by the application's method of the same name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from services.followup.domain.vocabulary import (
    AttachmentKind,
    DeadlineKind,
    Opinion,
    OutcomeForm,
    ReviewDecision,
    ReviewLevel,
    Satisfaction,
    VisitKind,
)
from shared.domain import Actor, Trace


@dataclass(frozen=True, kw_only=True)
class Command:
    """Who asks, and the request the change is traced to."""

    actor: Actor
    trace: Trace


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Command):
    """A command on one case."""

    case_id: UUID


# --- handling ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FilePlan(CaseCommand):
    summary: str
    major: bool = False


@dataclass(frozen=True, kw_only=True)
class ApproveLongTermPlan(CaseCommand):
    summary: str
    target: datetime


@dataclass(frozen=True, kw_only=True)
class ReportProgress(CaseCommand):
    summary: str


@dataclass(frozen=True, kw_only=True)
class RecordOutcome(CaseCommand):
    form: OutcomeForm
    opinion: Opinion | None
    summary: str


# --- return visit, commitment, close-out, visits ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RecordReturnVisit(CaseCommand):
    satisfaction: Satisfaction
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordCeaseCommitment(CaseCommand):
    note: str


@dataclass(frozen=True, kw_only=True)
class CloseOut(CaseCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class RecordVisit(CaseCommand):
    """`visited_at` None: the visit is happening now."""

    kind: VisitKind
    visited_by: str
    visited_at: datetime | None
    summary: str


@dataclass(frozen=True, kw_only=True)
class AttachFile(CaseCommand):
    """A file to attach: its bytes (checked and stored by their hash before the case records
    it), the name and type its sender gave, what it is, and whose personal data it is."""

    data: bytes
    name: str
    declared_type: str | None
    kind: AttachmentKind
    description: str | None
    petitioner_id: str | None


# --- review and re-review ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestReview(CaseCommand):
    level: ReviewLevel
    organ: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DecideReview(CaseCommand):
    decision: ReviewDecision
    summary: str


# --- the clocks ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PauseClocks(CaseCommand):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ResumeClocks(CaseCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class ExtendDeadline(CaseCommand):
    kind: DeadlineKind
    days: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class IssueSupervisionNotice(CaseCommand):
    """`department` None: the case's lead department."""

    text: str
    department: str | None = None


@dataclass(frozen=True, kw_only=True)
class PublishHolidays(Command):
    year: int
    holidays: tuple[date, ...]
    make_up_days: tuple[date, ...] = ()


# --- the petitioner, without an account -----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RateByCode:
    """The petitioner rates the handling with the case code; no account, no request trace
    but the case's own."""

    code: str
    satisfaction: Satisfaction
    comment: str = ""
