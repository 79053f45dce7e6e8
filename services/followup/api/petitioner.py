"""The petitioner, without an account: progress and the answer looked up with the case
code, and a rating of the handling (Art. 21). Wrong codes from one address are limited
(`services.followup.attempts`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.followup.api.deps import FollowUp
from services.followup.application import FollowUpApplication
from services.followup.commands import RateByCode
from services.followup.domain import FollowUpCase
from services.followup.domain.vocabulary import Satisfaction, Status
from shared.http import NotFound, example

router = APIRouter(prefix="/v1/public", tags=["petitioner (no account)"])


PUBLIC_STATUS = {
    Status.PENDING_REGISTRATION: "登记中 registered",
    Status.REGISTERED: "已登记 registered",
    Status.AWAITING_MANUAL_DISPATCH: "待交办 being routed",
    Status.ASSIGNED: "已交办 with the department",
    Status.IN_PROGRESS: "办理中 being handled",
    Status.REOPENED: "重新办理 handled again",
    Status.RESOLVED: "已办结 answered",
    Status.CLOSED_OUT: "已销号 closed",
    Status.UNDER_REVIEW: "复查中 under review",
    Status.UNDER_RE_REVIEW: "复核中 under re-review",
    Status.FINAL: "已终结 final",
    Status.DECLINED: "不予受理 not accepted",
    Status.DIVERTED: "已引导 to another legal channel",
}
"""What the petitioner is told of each status, in both languages."""


def petitioner_view(case: FollowUpCase) -> dict[str, Any]:
    """What the petitioner sees: where the matter is and what was answered — no names of
    staff, no one else's data, no internal notes."""
    steps: list[dict[str, Any]] = []
    if case.registered_at:
        steps.append({"step": "registered", "at": case.registered_at})
    if case.lead:
        steps.append({"step": "assigned", "at": case.assigned_at, "to": case.lead.name})
    steps += [{"step": r.kind, "at": r.at} for r in case.reports]
    steps += [
        {
            "step": "outcome",
            "at": o.at,
            "form": o.form,
            "opinion": o.opinion,
            "summary": o.summary,
        }
        for o in case.outcomes
    ]
    steps += [{"step": "rated", "at": r.at, "satisfaction": r.satisfaction} for r in case.ratings]
    steps += [{"step": "reopened", "at": r.at} for r in case.reopenings]
    steps += [{"step": r.level, "at": r.requested_at, "decision": r.decision} for r in case.reviews]
    if case.closed_out:
        steps.append({"step": "closed-out", "at": case.closed_out.at})
    return {
        "status": case.status,
        "status_text": PUBLIC_STATUS[case.status],
        "subject": case.subject,
        "department": case.lead.name if case.lead else None,
        "steps": sorted(steps, key=lambda s: s["at"]),
        "can_rate": case.outcome is not None and case.rating is None and not case.closed_out,
    }


class LookupIn(BaseModel):
    model_config = example({"code": "K7QM-3XPA-9TRE"})
    code: Annotated[str, Field(min_length=12, max_length=20)]


def _by_code(request: Request, app: FollowUpApplication, code: str) -> FollowUpCase:
    client = request.client.host if request.client else "?"
    app.code_attempts.check(client)
    try:
        return app.case_by_code(code)
    except NotFound:
        app.code_attempts.failed(client)
        raise


@router.post("/lookup", summary="The petitioner looks up progress with the case code (no account)")
def lookup(body: LookupIn, request: Request, app: FollowUp) -> dict[str, Any]:
    return petitioner_view(_by_code(request, app, body.code))


class RatingIn(BaseModel):
    model_config = example({"code": "K7QM-3XPA-9TRE", "satisfaction": "satisfied", "comment": ""})
    code: Annotated[str, Field(min_length=12, max_length=20)]
    satisfaction: Satisfaction
    comment: Annotated[str, Field(max_length=2000)] = ""


@router.post("/rating", summary="The petitioner rates the handling (Art. 21); unsatisfied reopens")
def rate(body: RatingIn, request: Request, app: FollowUp) -> dict[str, Any]:
    case = _by_code(request, app, body.code)
    command = RateByCode(code=body.code, satisfaction=body.satisfaction, comment=body.comment)
    rated = app.rate_by_code(command)
    assert rated.id == case.id
    return petitioner_view(rated)
