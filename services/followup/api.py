"""Follow-up's HTTP API: a case's status and deadlines, and its full replayable history."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel

from services.followup.application import FollowUpApplication
from services.followup.domain import FollowUpCase
from shared.auth import CurrentActor

router = APIRouter(prefix="/v1", tags=["follow-up"])

AsOf = Annotated[
    AwareDatetime | None,
    Query(description="Show the case as it stood at this ISO-8601 time (with offset)"),
]


class CaseStatus(BaseModel):
    case_id: UUID
    status: str
    subject: str | None
    category: str | None
    location: dict[str, Any]
    first_receiver: str | None
    registered_at: datetime | None
    lead: dict[str, str] | None
    co_handlers: list[dict[str, str]]
    assigned_at: datetime | None
    manual_dispatch_reason: str | None
    deadlines: list[dict[str, Any]]
    as_of: datetime


def _app(request: Request) -> FollowUpApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


def _status(case: FollowUpCase, now: datetime) -> CaseStatus:
    return CaseStatus(
        case_id=case.id,
        status=case.status,
        subject=case.subject,
        category=case.category,
        location=case.location,
        first_receiver=case.first_receiver,
        registered_at=case.registered_at,
        lead=case.lead,
        co_handlers=case.co_handlers,
        assigned_at=case.assigned_at,
        manual_dispatch_reason=case.manual_dispatch_reason,
        deadlines=case.deadlines_at(now),
        as_of=now,
    )


@router.get(
    "/cases/{case_id}",
    response_model=CaseStatus,
    summary="A case's status and deadlines, now or as of a past moment",
)
def get_case(case_id: UUID, request: Request, _: CurrentActor, as_of: AsOf = None) -> CaseStatus:
    app = _app(request)
    return _status(app.get_case(case_id, as_of), as_of or app.clock())


@router.get(
    "/cases/{case_id}/history",
    summary="Every event about the case from all services, in causal order, verified",
)
def get_history(
    case_id: UUID, request: Request, _: CurrentActor, as_of: AsOf = None
) -> dict[str, Any]:
    app = _app(request)
    entries, verification = app.history(case_id, as_of)
    case = None
    if entries:
        moment = as_of or app.clock()
        case = _status(app.get_case(case_id, as_of), moment).model_dump(mode="json")
    return {
        "case_id": str(case_id),
        "as_of": as_of.isoformat() if as_of else None,
        "case": case,
        "integrity": asdict(verification),
        "events": entries,
    }
