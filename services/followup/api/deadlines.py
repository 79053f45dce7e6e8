"""The clocks: pausing and resuming a case's clocks, extensions, supervision notices by
hand, the supervision office's ledger of deadlines (督办台账), and the policy they follow."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.followup.api.deps import (
    CurrentActor,
    FollowUp,
    RequestTrace,
)
from services.followup.api.views import CaseStatus, Text, case_status
from services.followup.commands import (
    ExtendDeadline,
    IssueSupervisionNotice,
    PauseClocks,
    ResumeClocks,
)
from services.followup.domain.vocabulary import DeadlineKind
from services.followup.ledger import Board
from shared.domain import Forbidden
from shared.http import example
from shared.listing import page_total

router = APIRouter(prefix="/v1", tags=["follow-up"])


class PauseIn(BaseModel):
    model_config = example({"reason": "Hearing (听证) on 12-03"})
    reason: Text


@router.post("/cases/{case_id}/clocks/pause", summary="Pause the running clocks (a hearing)")
def pause(
    case_id: UUID, body: PauseIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = PauseClocks(case_id=case_id, reason=body.reason, actor=actor, trace=trace)
    return case_status(app.pause_clocks(command), app.clock())


@router.post("/cases/{case_id}/clocks/resume", summary="Resume them; the pause is not counted")
def resume(case_id: UUID, app: FollowUp, actor: CurrentActor, trace: RequestTrace) -> CaseStatus:
    command = ResumeClocks(case_id=case_id, actor=actor, trace=trace)
    return case_status(app.resume_clocks(command), app.clock())


class ExtensionIn(BaseModel):
    model_config = example(
        {"kind": "statutory-handling", "days": 30, "reason": "Awaiting the labour arbitration"}
    )
    kind: DeadlineKind = DeadlineKind.STATUTORY_HANDLING
    days: int = Field(ge=1, le=365)
    reason: Text


@router.post(
    "/cases/{case_id}/extensions",
    summary="A leader approves the one extension a deadline allows (Art. 34: ≤ 30 days)",
)
def extend(
    case_id: UUID, body: ExtensionIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = ExtendDeadline(
        case_id=case_id,
        kind=body.kind,
        days=body.days,
        reason=body.reason,
        actor=actor,
        trace=trace,
    )
    return case_status(app.extend(command), app.clock())


class NoticeIn(BaseModel):
    model_config = example({"text": "Report the payment plan by Monday", "department": None})
    text: Text
    department: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Omitted: the lead department"
    )


@router.post(
    "/cases/{case_id}/supervision-notices", summary="Issue a supervision notice (督办) by hand"
)
def supervise(
    case_id: UUID, body: NoticeIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> CaseStatus:
    command = IssueSupervisionNotice(
        case_id=case_id, text=body.text, department=body.department, actor=actor, trace=trace
    )
    return case_status(app.issue_supervision_notice(command), app.clock())


@router.get(
    "/deadlines",
    summary="The ledger of deadlines still to be met (督办台账): overdue, due soon, or all",
)
def deadlines(
    app: FollowUp,
    actor: CurrentActor,
    department: Annotated[str | None, Query(max_length=64)] = None,
    place: Annotated[
        str | None, Query(max_length=64, description="Cases at this place or within it")
    ] = None,
    state: Annotated[str, Query(pattern="^(running|overdue|due-soon)$")] = "overdue",
    within_hours: Annotated[int, Query(ge=1, le=24 * 90)] = 48,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if actor.role == "handler":
        if department not in (None, actor.department):
            raise Forbidden("a handler reads their own department's deadlines")
        department = actor.department
    now = app.clock()
    rows, total = app.ledger.board(
        Board(
            now=now,
            department=department,
            place=place,
            hidden_from=actor.department,
            state=state,
            within=within_hours * 3600,
            limit=limit,
            offset=offset,
        )
    )
    for row in rows:
        row["seconds_left"] = int((row["due_at"] - now).total_seconds())
    return {"as_of": now, **page_total(total), "items": rows}


@router.get("/policy", summary="The deadline policy in force: every clock, as data")
def policy(app: FollowUp, actor: CurrentActor) -> dict[str, Any]:
    return app.policy.as_dict()
