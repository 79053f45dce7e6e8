"""Routing's HTTP API: assignments and their hand-offs, and department inboxes (the registry
and the catalogue: `registry_api`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from services.routing.application import RoutingApplication
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
from services.routing.domain import (
    Assignment,
    CaseLeader,
    DepartmentRef,
    Escalation,
    JointMeeting,
    Objection,
    Party,
    PartyState,
    ReviewOutcome,
    Role,
    Transfer,
)
from shared.auth import CurrentActor, Forbidden, require_role
from shared.domain import Actor
from shared.http import example, request_trace

router = APIRouter(prefix="/v1", tags=["routing"])

SUPERVISING = ("supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")

Reason = Annotated[str, Field(min_length=2, max_length=2000)]
"""Two characters are a reason in Chinese (同意, 越权)."""
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _app(request: Request) -> RoutingApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


def _handler(actor: Actor) -> None:
    require_role(actor, "handler")
    if not actor.department:
        raise Forbidden("a handler's token names their department (onestop token --department)")


# --- assignments ---------------------------------------------------------------------------


def view(a: Assignment, actor: Actor) -> dict[str, Any]:
    """The assignment as the actor may see it: an accused unit sees only that it is
    restricted (Art. 30)."""
    if not a.visible_to(actor.department):
        return {"case_id": str(a.id), "status": "restricted", "restricted": True}
    return {
        "case_id": str(a.id),
        "status": a.status,
        "lead": department(a.lead) if a.lead else None,
        "co_handlers": [department(d) for d in a.co_handlers],
        "departments": [party(p) for p in a.parties.values()],
        "rule_id": a.rule_id,
        "rule_version": a.rule_version,
        "reason": a.reason,
        "handled_at": asdict(a.handled_at) if a.handled_at else None,
        "legal_class": a.legal_class,
        "restricted": a.accused is not None,
        "level": a.level,
        "escalations": [escalation(e) for e in a.escalations],
        "joint_meetings": [meeting(m) for m in a.meetings],
        "leader": leader(a.leader) if a.leader else None,
        "transfers": [transfer(t) for t in a.transfers],
        "version": a.version,
    }


def department(ref: DepartmentRef) -> dict[str, Any]:
    return {"code": ref.code, "name": ref.name}


def party(p: Party) -> dict[str, Any]:
    return {
        **department(p.department),
        "role": p.role,
        "state": p.state,
        "since": p.since,
        "objection_due": p.objection_due,
        "objection": objection(p.objection) if p.objection else None,
        "binding": p.binding,
        "handler": p.handler,
        "recused": list(p.recused),
        "answered_at": p.answered_at,
        "parts": [{"summary": r.summary, "at": r.at} for r in p.parts],
    }


def objection(o: Objection) -> dict[str, Any]:
    """Its reason and time; and the review's reason once it is overruled."""
    found: dict[str, Any] = {"reason": o.reason, "at": o.at}
    if o.overruled is not None:
        found["overruled"] = o.overruled
    return found


def escalation(e: Escalation) -> dict[str, Any]:
    return {
        "level": e.level,
        "trigger": e.trigger,
        "reason": e.reason,
        "at": e.at,
        "by": e.by.as_dict(),
    }


def meeting(m: JointMeeting) -> dict[str, Any]:
    return {
        "chair": m.chair,
        "departments": list(m.departments),
        "minutes": m.minutes,
        "decisions": list(m.decisions),
        "at": m.at,
    }


def leader(taken: CaseLeader) -> dict[str, Any]:
    return {"user": taken.user, "note": taken.note, "at": taken.at}


def transfer(t: Transfer) -> dict[str, Any]:
    return {
        "from": department(t.from_lead),
        "to": department(t.to_lead),
        "trigger": t.trigger,
        "at": t.at,
    }


@router.get(
    "/cases/{case_id}/assignment",
    summary="Who leads and who co-handles a case, each one's answer, and every hand-off",
)
def get_assignment(case_id: UUID, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING)
    return view(_app(request).get_assignment(case_id), actor)


class ObjectionIn(BaseModel):
    model_config = example({"reason": "Wage arrears at a state-owned farm belong to the SASAC"})
    reason: Reason


@router.post("/cases/{case_id}/assignment/accept", summary="Your department takes its part")
def accept(case_id: UUID, request: Request, actor: CurrentActor) -> dict[str, Any]:
    _handler(actor)
    command = AcceptAssignment(case_id=case_id, actor=actor, trace=request_trace(request))
    return view(_app(request).accept(command), actor)


@router.post(
    "/cases/{case_id}/assignment/objection",
    summary="Object to the routing within 5 working days, with reasons (Art. 23)",
)
def object_to(
    case_id: UUID, body: ObjectionIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    _handler(actor)
    command = ObjectToAssignment(
        case_id=case_id, reason=body.reason, actor=actor, trace=request_trace(request)
    )
    return view(_app(request).object(command), actor)


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
def review(case_id: UUID, body: ReviewIn, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *SUPERVISING)
    a = _app(request).review_objection(
        ReviewObjection(
            case_id=case_id,
            department=body.department,
            outcome=body.outcome,
            reason=body.reason,
            lead=body.lead,
            co_handlers=tuple(body.co_handlers),
            actor=actor,
            trace=request_trace(request),
        )
    )
    return view(a, actor)


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
    case_id: UUID, body: DispatchIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, *SUPERVISING)
    a = _app(request).dispatch(
        DispatchByHand(
            case_id=case_id,
            lead=body.lead,
            co_handlers=tuple(body.co_handlers),
            reason=body.reason,
            actor=actor,
            trace=request_trace(request),
        )
    )
    return view(a, actor)


class EscalationIn(BaseModel):
    model_config = example({"reason": "three departments disagree on who owns the drainage"})
    reason: Reason


@router.post(
    "/cases/{case_id}/assignment/escalation",
    summary="Escalate one rung: window → joint meeting → leader",
)
def escalate(
    case_id: UUID, body: EscalationIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, "handler", *SUPERVISING)
    command = Escalate(
        case_id=case_id, reason=body.reason, actor=actor, trace=request_trace(request)
    )
    a = _app(request).escalate(command)
    return view(a, actor)


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
    case_id: UUID, body: MeetingIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, *SUPERVISING)
    a = _app(request).hold_joint_meeting(
        HoldJointMeeting(
            case_id=case_id,
            chair=body.chair,
            departments=tuple(body.departments),
            minutes=body.minutes,
            decisions=tuple(body.decisions),
            lead=body.lead,
            co_handlers=tuple(body.co_handlers),
            actor=actor,
            trace=request_trace(request),
        )
    )
    return view(a, actor)


class LeaderIn(BaseModel):
    model_config = example({"note": "I will meet the petitioner on Monday."})
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post(
    "/cases/{case_id}/assignment/leader", summary="A leader takes the case personally (包案)"
)
def take_personally(
    case_id: UUID, body: LeaderIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, "leader")
    command = TakePersonally(
        case_id=case_id, note=body.note, actor=actor, trace=request_trace(request)
    )
    a = _app(request).take_personally(command)
    return view(a, actor)


class RecusalIn(BaseModel):
    model_config = example({"reason": "the employer is my brother-in-law's company"})
    reason: Reason


@router.post(
    "/cases/{case_id}/assignment/recusal",
    summary="Declare a conflict of interest and hand the case back (Art. 28)",
)
def recuse(case_id: UUID, body: RecusalIn, request: Request, actor: CurrentActor) -> dict[str, Any]:
    _handler(actor)
    command = Recuse(case_id=case_id, reason=body.reason, actor=actor, trace=request_trace(request))
    return view(_app(request).recuse(command), actor)


@router.post(
    "/cases/{case_id}/assignment/take-over",
    summary="Another handler of the department takes the case after a recusal",
)
def take_over(case_id: UUID, request: Request, actor: CurrentActor) -> dict[str, Any]:
    _handler(actor)
    command = TakeOver(case_id=case_id, actor=actor, trace=request_trace(request))
    return view(_app(request).take_over(command), actor)


class PartIn(BaseModel):
    model_config = example({"summary": "Site inspected; the stall was removed on 11-20."})
    summary: Annotated[str, Field(min_length=1, max_length=5000)]


@router.post(
    "/cases/{case_id}/assignment/parts",
    summary="A co-handler reports its part back to the lead (首接负责)",
)
def report_part(
    case_id: UUID, body: PartIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    _handler(actor)
    command = ReportPart(
        case_id=case_id, summary=body.summary, actor=actor, trace=request_trace(request)
    )
    a = _app(request).report_part(command)
    return view(a, actor)


# --- inboxes --------------------------------------------------------------------------------


@router.get(
    "/departments/{code}/inbox",
    summary="A department's cases: assigned, awaiting acceptance, objected — filtered, paged",
)
def inbox(
    code: str,
    request: Request,
    actor: CurrentActor,
    state: PartyState | None = None,
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_role(actor, "handler", *SUPERVISING, "auditor")
    if actor.role == "handler" and actor.department != code:
        raise Forbidden("a handler reads their own department's inbox")
    rows, total = _app(request).department_inbox(
        code, state=state, role=role, limit=limit, offset=offset
    )
    return {
        "department": code,
        "total": total,
        "limit": limit,
        "offset": offset,
        "cases": [asdict(r) for r in rows],
    }


@router.get("/dispatch-queue", summary="Cases no rule covers, waiting to be dispatched by hand")
def dispatch_queue(
    request: Request,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_role(actor, *SUPERVISING, "auditor")
    rows, total = _app(request).inbox.manual_queue(limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "cases": [asdict(r) for r in rows]}
