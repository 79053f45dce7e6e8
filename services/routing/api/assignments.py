"""A case's assignment and its hand-offs: each department's answer, the review of an
objection, dispatch by hand, the escalation ladder, recusal and co-handlers' parts. Each
route builds its command once and answers with the assignment as the caller may see it."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.routing.api.deps import (
    CurrentActor,
    RequestTrace,
    Routing,
)
from services.routing.api.views import assignment_view
from services.routing.commands import (
    AcceptAssignment,
    DispatchByHand,
    Escalate,
    HoldJointMeeting,
    ObjectToAssignment,
    Recuse,
    ReportPart,
    ReviewObjection,
    TakeOver,
    TakePersonally,
)
from services.routing.domain import ReviewOutcome
from shared.http import example
from shared.policy import require_department, require_part_in

router = APIRouter(prefix="/v1", tags=["routing"])

Reason = Annotated[str, Field(min_length=2, max_length=2000)]
"""Two characters are a reason in Chinese (同意, 越权)."""
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get(
    "/cases/{case_id}/assignment",
    summary="Who leads and who co-handles a case, each one's answer, and every hand-off",
)
def get_assignment(case_id: UUID, app: Routing, actor: CurrentActor) -> dict[str, Any]:
    return assignment_view(app.get_assignment(case_id), actor)


class ObjectionIn(BaseModel):
    model_config = example({"reason": "Wage arrears at a state-owned farm belong to the SASAC"})
    reason: Reason


@router.post("/cases/{case_id}/assignment/accept", summary="Your department takes its part")
def accept(case_id: UUID, app: Routing, actor: CurrentActor, trace: RequestTrace) -> dict[str, Any]:
    require_department(actor)
    command = AcceptAssignment(case_id=case_id, actor=actor, trace=trace)
    return assignment_view(app.accept(command), actor)


@router.post(
    "/cases/{case_id}/assignment/objection",
    summary="Object to the routing within 5 working days, with reasons (Art. 23)",
)
def object_to(
    case_id: UUID, body: ObjectionIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    require_department(actor)
    command = ObjectToAssignment(case_id=case_id, reason=body.reason, actor=actor, trace=trace)
    return assignment_view(app.object(command), actor)


class ReviewIn(BaseModel):
    model_config = example(
        {"department": "ninghe-hrss", "outcome": "reroute", "reason": "the farm is SASAC's"}
    )
    department: Code
    outcome: ReviewOutcome
    reason: Reason
    lead: Code | None = Field(
        default=None, description="reroute: the new lead; omitted, the catalogue chooses"
    )
    co_handlers: list[Code] = Field(default=[], max_length=10)


@router.post(
    "/cases/{case_id}/assignment/objection-review",
    summary="Review an objection: overrule it, re-route the case, or escalate the dispute",
)
def review(
    case_id: UUID, body: ReviewIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = ReviewObjection(
        case_id=case_id,
        department=body.department,
        outcome=body.outcome,
        reason=body.reason,
        lead=body.lead,
        co_handlers=tuple(body.co_handlers),
        actor=actor,
        trace=trace,
    )
    return assignment_view(app.review_objection(command), actor)


class DispatchIn(BaseModel):
    model_config = example(
        {"lead": "ninghe-urban", "co_handlers": ["lutai-office"], "reason": "street vendors"}
    )
    lead: Code
    co_handlers: list[Code] = Field(default=[], max_length=10)
    reason: Reason


@router.post(
    "/cases/{case_id}/assignment/dispatch",
    summary="Dispatch a case by hand (the manual-dispatch queue, or a correction)",
)
def dispatch(
    case_id: UUID, body: DispatchIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = DispatchByHand(
        case_id=case_id,
        lead=body.lead,
        co_handlers=tuple(body.co_handlers),
        reason=body.reason,
        actor=actor,
        trace=trace,
    )
    return assignment_view(app.dispatch(command), actor)


class EscalationIn(BaseModel):
    model_config = example({"reason": "three departments disagree on who owns the drainage"})
    reason: Reason


@router.post(
    "/cases/{case_id}/assignment/escalation",
    summary="Escalate one rung: window → joint meeting → leader",
)
def escalate(
    case_id: UUID, body: EscalationIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    require_part_in(actor, app.case_access(case_id))
    command = Escalate(case_id=case_id, reason=body.reason, actor=actor, trace=trace)
    return assignment_view(app.escalate(command), actor)


class MeetingIn(BaseModel):
    model_config = example(
        {
            "chair": "副区长 张伟",
            "departments": ["ninghe-hrss", "ninghe-urban"],
            "minutes": "Both departments heard the petitioner's account on site.",
            "decisions": ["HRSS leads, urban management clears the site by Friday"],
            "lead": "ninghe-hrss",
            "co_handlers": ["ninghe-urban"],
        }
    )
    chair: Annotated[str, Field(min_length=1, max_length=100)]
    departments: list[Code] = Field(min_length=2, max_length=20)
    minutes: Annotated[str, Field(min_length=1, max_length=20000)]
    decisions: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        min_length=1, max_length=20
    )
    lead: Code | None = Field(default=None, description="Who the meeting decided leads")
    co_handlers: list[Code] = Field(default=[], max_length=10)


@router.post(
    "/cases/{case_id}/assignment/joint-meetings",
    summary="Record a joint meeting (联席会议): who met, minutes, decisions",
)
def joint_meeting(
    case_id: UUID, body: MeetingIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = HoldJointMeeting(
        case_id=case_id,
        chair=body.chair,
        departments=tuple(body.departments),
        minutes=body.minutes,
        decisions=tuple(body.decisions),
        lead=body.lead,
        co_handlers=tuple(body.co_handlers),
        actor=actor,
        trace=trace,
    )
    return assignment_view(app.hold_joint_meeting(command), actor)


class LeaderIn(BaseModel):
    model_config = example({"note": "I will meet the petitioner on Monday."})
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post(
    "/cases/{case_id}/assignment/leader", summary="A leader takes the case personally (包案)"
)
def take_personally(
    case_id: UUID, body: LeaderIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = TakePersonally(case_id=case_id, note=body.note, actor=actor, trace=trace)
    return assignment_view(app.take_personally(command), actor)


class RecusalIn(BaseModel):
    model_config = example({"reason": "the employer is my brother-in-law's company"})
    reason: Reason


@router.post(
    "/cases/{case_id}/assignment/recusal",
    summary="Declare a conflict of interest and hand the case back (Art. 28)",
)
def recuse(
    case_id: UUID, body: RecusalIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    require_department(actor)
    command = Recuse(case_id=case_id, reason=body.reason, actor=actor, trace=trace)
    return assignment_view(app.recuse(command), actor)


@router.post(
    "/cases/{case_id}/assignment/take-over",
    summary="Another handler of the department takes the case after a recusal",
)
def take_over(
    case_id: UUID, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    require_department(actor)
    command = TakeOver(case_id=case_id, actor=actor, trace=trace)
    return assignment_view(app.take_over(command), actor)


class PartIn(BaseModel):
    model_config = example({"summary": "Site inspected; the stall was removed on 11-20."})
    summary: Annotated[str, Field(min_length=1, max_length=5000)]


@router.post(
    "/cases/{case_id}/assignment/parts",
    summary="A co-handler reports its part back to the lead (首接负责)",
)
def report_part(
    case_id: UUID, body: PartIn, app: Routing, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    require_department(actor)
    command = ReportPart(case_id=case_id, summary=body.summary, actor=actor, trace=trace)
    return assignment_view(app.report_part(command), actor)
