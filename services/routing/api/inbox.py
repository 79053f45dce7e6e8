"""Department inboxes and the queue of cases waiting to be dispatched by hand."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query

from services.routing.api.deps import CurrentActor, Routing
from services.routing.domain import PartyState, Role
from shared.domain import Forbidden
from shared.listing import page_total
from shared.policy import may_act_on

router = APIRouter(prefix="/v1", tags=["routing"])

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0)]


@router.get(
    "/departments/{code}/inbox",
    summary="A department's cases: assigned, awaiting acceptance, objected — filtered, paged",
)
def inbox(
    code: str,
    app: Routing,
    actor: CurrentActor,
    state: PartyState | None = None,
    role: Role | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    if actor.role == "handler" and actor.department != code:
        raise Forbidden("a handler reads their own department's inbox")
    rows, total = app.department_inbox(code, state=state, role=role, limit=limit, offset=offset)
    return {
        "department": code,
        **page_total(total),
        "limit": limit,
        "offset": offset,
        "cases": [asdict(r) for r in rows],
    }


@router.get(
    "/leaders/{user}/cases",
    summary="The cases a leader holds personally (包案), the longest held first",
)
def leader_cases(
    user: Annotated[str, Path(min_length=1, max_length=100)],
    app: Routing,
    actor: CurrentActor,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    if actor.role == "leader" and actor.user != user:
        raise Forbidden("a leader reads the cases they hold themselves")
    rows, total = app.inbox.held_by(user, limit, offset)
    shown = [asdict(r) for r in rows if may_act_on(actor, app.case_access(UUID(r.case_id)))]
    return {"leader": user, **page_total(total), "limit": limit, "offset": offset, "cases": shown}


@router.get("/dispatch-queue", summary="Cases no rule covers, waiting to be dispatched by hand")
def dispatch_queue(
    app: Routing, actor: CurrentActor, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    rows, total = app.inbox.manual_queue(limit, offset)
    return {
        **page_total(total),
        "limit": limit,
        "offset": offset,
        "cases": [asdict(r) for r in rows],
    }
