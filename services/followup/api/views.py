"""What callers see of a case, and the request fields several routers share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, Field

from services.followup.domain import FollowUpCase
from shared.domain import Actor

Text = Annotated[str, Field(min_length=2, max_length=5000)]

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
    level: str
    major: bool
    round: int = Field(description="1, or more once reopened after an unsatisfying outcome")
    deadlines: list[dict[str, Any]]
    paused: dict[str, Any] | None
    reports: list[dict[str, Any]]
    long_term_plan: dict[str, Any] | None
    parts: dict[str, Any]
    outcomes: list[dict[str, Any]]
    ratings: list[dict[str, Any]]
    reopenings: list[dict[str, Any]]
    cease_commitment: dict[str, Any] | None
    closed_out: dict[str, Any] | None
    reviews: list[dict[str, Any]]
    final: dict[str, Any] | None
    supervision_notices: list[dict[str, Any]]
    as_of: datetime


def case_status(case: FollowUpCase, now: datetime) -> CaseStatus:
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
        level=case.level,
        major=case.major,
        round=case.round,
        deadlines=case.deadlines_at(now),
        paused=case.pause,
        reports=case.reports,
        long_term_plan=case.long_term_plan,
        parts=case.parts,
        outcomes=case.outcomes,
        ratings=case.ratings,
        reopenings=case.reopenings,
        cease_commitment=case.cease_commitment,
        closed_out=case.closed_out,
        reviews=case.reviews,
        final=case.final,
        supervision_notices=case.notices,
        as_of=now,
    )


RESTRICTED = {"status": "restricted", "restricted": True}


def readable(case: FollowUpCase, actor: Actor) -> bool:
    """An accused unit sees only that the case is restricted (Art. 30)."""
    return case.visible_to(actor.department if actor.role in ("handler", "clerk") else None)
