"""Routing's HTTP API: a case's assignment, the departments and the dispatch catalogue."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.routing.application import RoutingApplication
from services.routing.catalogue import CATALOGUE_VERSION, DEPARTMENTS, RULES
from shared.auth import CurrentActor

router = APIRouter(prefix="/v1", tags=["routing"])


class AssignmentView(BaseModel):
    case_id: UUID
    status: str
    lead: dict[str, str] | None
    co_handlers: list[dict[str, str]]
    rule_id: str | None
    rule_version: str
    reason: str


def _app(request: Request) -> RoutingApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


@router.get(
    "/cases/{case_id}/assignment",
    response_model=AssignmentView,
    summary="Who leads and who co-handles a case, and the rule that chose them",
)
def get_assignment(case_id: UUID, request: Request, _: CurrentActor) -> AssignmentView:
    a = _app(request).get_assignment(case_id)
    return AssignmentView(
        case_id=a.id,
        status=a.status,
        lead=a.lead,
        co_handlers=a.co_handlers,
        rule_id=a.rule_id,
        rule_version=a.rule_version,
        reason=a.reason,
    )


@router.get("/departments", summary="The departments cases can be assigned to")
def departments(_: CurrentActor) -> list[dict[str, Any]]:
    return [vars(d) for d in DEPARTMENTS.values()]


@router.get("/dispatch-rules", summary="The dispatch catalogue (派单目录) in force")
def dispatch_rules(_: CurrentActor) -> dict[str, Any]:
    return {
        "version": CATALOGUE_VERSION,
        "rules": [
            {
                "rule_id": r.rule_id,
                "category": r.category,
                "scope": list(r.scope),
                "lead": r.lead,
                "co_handlers": list(r.co_handlers),
            }
            for r in RULES
        ],
    }
