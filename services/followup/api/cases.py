"""A case's status, and its handling: the plan, progress, the outcome, the return visit,
the cease-petition commitment, close-out, review and re-review, and the visits that follow
the petitioner for as long as needed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from services.followup.api.deps import (
    CurrentActor,
    FollowUp,
    RequestTrace,
)
from services.followup.api.views import (
    AsOf,
    CaseStatus,
    Text,
    case_status,
)
from services.followup.application import FollowUpApplication
from services.followup.commands import (
    ApproveLongTermPlan,
    CloseOut,
    DecideReview,
    FilePlan,
    RecordCeaseCommitment,
    RecordOutcome,
    RecordReturnVisit,
    RecordVisit,
    ReportProgress,
    RequestReview,
)
from services.followup.domain import FollowUpCase
from services.followup.domain.vocabulary import (
    Opinion,
    OutcomeForm,
    ReviewDecision,
    ReviewLevel,
    Satisfaction,
    VisitKind,
)
from shared.http import example

router = APIRouter(prefix="/v1", tags=["follow-up"])


def _view(app: FollowUpApplication, case: FollowUpCase) -> CaseStatus:
    return case_status(case, app.clock())


@router.get(
    "/cases/{case_id}",
    response_model=CaseStatus | dict[str, Any],
    summary="A case's status, clocks, handling and reviews, now or as of a past moment",
)
def get_case(
    case_id: UUID, app: FollowUp, actor: CurrentActor, as_of: AsOf = None
) -> CaseStatus | dict[str, Any]:
    # a case hidden from the caller never reaches here (shared.service: one gate per case)
    if as_of is not None:
        return case_status(app.get_case(case_id, as_of), as_of)
    now = app.clock()  # read in place, and made into JSON before a batch may change it
    return app.read_case(case_id, lambda case: case_status(case, now).model_dump(mode="json"))


# --- handling ---------------------------------------------------------------------------------


class PlanIn(BaseModel):
    model_config = example(
        {
            "summary": "Meet the employer on Tuesday; verify the payroll with the site",
            "major": False,
        }
    )
    summary: Text
    major: bool = Field(
        default=False, description="A major or complex matter: a month instead of 7 days"
    )


@router.post("/cases/{case_id}/plan", summary="13710: the lead's handling plan (within 1 day)")
def file_plan(
    case_id: UUID, body: PlanIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = FilePlan(
        case_id=case_id, summary=body.summary, major=body.major, actor=actor, trace=trace
    )
    return _view(app, app.file_plan(command))


class LongTermPlanIn(BaseModel):
    model_config = example(
        {"summary": "Resettlement after the land survey; monthly reports", "target": "2027-03-31"}
    )
    summary: Text
    target: date = Field(description="The date the plan resolves the matter by")


@router.post(
    "/cases/{case_id}/long-term-plan",
    summary="13710: a leader approves a plan with a date for a major matter; monthly reports",
)
def long_term_plan(
    case_id: UUID, body: LongTermPlanIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    zone = app.rules().calendar.zone
    target = datetime.combine(body.target, day_time.max, tzinfo=zone).astimezone(UTC)
    command = ApproveLongTermPlan(
        case_id=case_id, summary=body.summary, target=target, actor=actor, trace=trace
    )
    return _view(app, app.approve_long_term_plan(command))


class ProgressIn(BaseModel):
    model_config = example({"summary": "Employer agreed to pay half by Friday"})
    summary: Text


@router.post("/cases/{case_id}/progress", summary="A progress report (13710: first within 3 days)")
def report_progress(
    case_id: UUID, body: ProgressIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = ReportProgress(case_id=case_id, summary=body.summary, actor=actor, trace=trace)
    return _view(app, app.report_progress(command))


class OutcomeIn(BaseModel):
    model_config = example(
        {
            "form": "opinion",
            "opinion": "support",
            "summary": "The employer paid the 18,000 yuan owed on 11-28; receipt on file.",
        }
    )
    form: OutcomeForm = Field(
        description="A handling opinion (Art. 32) or a mediation/settlement agreement (Art. 33)"
    )
    opinion: Opinion | None = Field(default=None, description="For an opinion")
    summary: Text


@router.post(
    "/cases/{case_id}/outcome",
    summary="The outcome: a handling opinion or a mediation agreement, with co-handlers' parts",
)
def record_outcome(
    case_id: UUID, body: OutcomeIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = RecordOutcome(
        case_id=case_id,
        form=body.form,
        opinion=body.opinion,
        summary=body.summary,
        actor=actor,
        trace=trace,
    )
    return _view(app, app.record_outcome(command))


# --- return visit, commitment, close-out --------------------------------------------------------


class ReturnVisitIn(BaseModel):
    model_config = example(
        {"satisfaction": "unsatisfied", "notes": "Only half was paid; the rest is still owed"}
    )
    satisfaction: Satisfaction
    notes: Annotated[str, Field(max_length=5000)] = ""


@router.post(
    "/cases/{case_id}/return-visit",
    summary="A return visit's answer (回访); unsatisfied reopens the handling",
)
def return_visit(
    case_id: UUID, body: ReturnVisitIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = RecordReturnVisit(
        case_id=case_id,
        satisfaction=body.satisfaction,
        notes=body.notes,
        actor=actor,
        trace=trace,
    )
    return _view(app, app.record_return_visit(command))


class CommitmentIn(BaseModel):
    model_config = example({"note": "Signed at the return visit; scan filed as 2026-0412"})
    note: Text


@router.post(
    "/cases/{case_id}/cease-commitment",
    summary="The petitioner signed a cease-petition commitment (息诉罢访承诺书)",
)
def cease_commitment(
    case_id: UUID, body: CommitmentIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = RecordCeaseCommitment(case_id=case_id, note=body.note, actor=actor, trace=trace)
    return _view(app, app.record_cease_commitment(command))


@router.post(
    "/cases/{case_id}/close-out", summary="Close the case out (销号), as its policy allows"
)
def close_out(case_id: UUID, app: FollowUp, actor: CurrentActor, trace: RequestTrace) -> CaseStatus:
    return _view(app, app.close_out(CloseOut(case_id=case_id, actor=actor, trace=trace)))


# --- review and re-review ------------------------------------------------------------------


class ReviewIn(BaseModel):
    model_config = example(
        {
            "level": "review",
            "organ": "宁河区人民政府",
            "reason": "The opinion ignores the overtime hours",
        }
    )
    level: ReviewLevel = Field(description="Review (Art. 35) or re-review (Art. 36)")
    organ: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The next higher organ that reviews"
    )
    reason: Text


@router.post(
    "/cases/{case_id}/reviews",
    summary="Record the petitioner's request for review or re-review (within 30 days)",
)
def request_review(
    case_id: UUID, body: ReviewIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = RequestReview(
        case_id=case_id,
        level=body.level,
        organ=body.organ,
        reason=body.reason,
        actor=actor,
        trace=trace,
    )
    return _view(app, app.request_review(command))


class DecisionIn(BaseModel):
    model_config = example({"decision": "upheld", "summary": "The opinion stands"})
    decision: ReviewDecision
    summary: Text


@router.post(
    "/cases/{case_id}/reviews/decision",
    summary="Decide the open review (within 30 days); a re-review's decision is final",
)
def decide_review(
    case_id: UUID, body: DecisionIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = DecideReview(
        case_id=case_id, decision=body.decision, summary=body.summary, actor=actor, trace=trace
    )
    return _view(app, app.decide_review(command))


# --- visits, for as long as the petitioner needs them ---------------------------------------------


class VisitIn(BaseModel):
    model_config = example(
        {
            "kind": "visit",
            "visited_by": "芦台街道 王主任、区信访局 李科长",
            "summary": "The petitioner is working again; no new claim, asked about his pension",
        }
    )
    kind: VisitKind = Field(
        default=VisitKind.VISIT, description="A visit in person, or a call back by telephone"
    )
    visited_by: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Who visited or called"
    )
    visited_at: AwareDatetime | None = Field(
        default=None, description="When (with offset); omitted: now"
    )
    summary: Text = Field(description="What was said")


@router.post(
    "/cases/{case_id}/visits",
    summary="Record a visit or call to the petitioner, at any time — also after "
    "close-out and once the matter is final",
)
def record_visit(
    case_id: UUID, body: VisitIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = RecordVisit(
        case_id=case_id,
        kind=body.kind,
        visited_by=body.visited_by,
        visited_at=body.visited_at,
        summary=body.summary,
        actor=actor,
        trace=trace,
    )
    return _view(app, app.record_visit(command))
