"""Follow-up's HTTP API: a case's clock and handling, return visits, review, close-out,
statistics, the work calendar, its full replayable history — and, without an account, the
petitioner's lookup and rating with the case code."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from services.followup.application import FollowUpApplication
from services.followup.domain import FollowUpCase
from services.followup.ledger import FIXED_GROUPINGS
from shared.auth import CurrentActor, Forbidden, require_role
from shared.domain import Actor, DomainError
from shared.http import NotFound, TooManyRequests, example, request_trace
from shared.territory import Statistics
from shared.vocabulary import Cessation, ClosureBase, Resolution

router = APIRouter(prefix="/v1", tags=["follow-up"])
public = APIRouter(prefix="/v1/public", tags=["petitioner (no account)"])

STAFF = ("clerk", "handler", "supervisor", "leader", "admin")
HANDLING = ("handler", "supervisor", "leader")
SUPERVISING = ("supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")
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


@router.get(
    "/cases/{case_id}",
    response_model=CaseStatus | dict[str, Any],
    summary="A case's status, clocks, handling and reviews, now or as of a past moment",
)
def get_case(
    case_id: UUID, request: Request, actor: CurrentActor, as_of: AsOf = None
) -> CaseStatus | dict[str, Any]:
    require_role(actor, *READING)
    app = _app(request)
    case = app.get_case(case_id, as_of)
    if not _readable(case, actor):
        return RESTRICTED | {"case_id": str(case_id)}
    return _status(case, as_of or app.clock())


RESTRICTED = {"status": "restricted", "restricted": True}


def _readable(case: FollowUpCase, actor: Actor) -> bool:
    """An accused unit sees only that the case is restricted (Art. 30)."""
    return case.visible_to(actor.department if actor.role in ("handler", "clerk") else None)


@router.get(
    "/cases/{case_id}/history",
    summary="Every event about the case from all services, in causal order, verified",
)
def get_history(
    case_id: UUID, request: Request, actor: CurrentActor, as_of: AsOf = None
) -> dict[str, Any]:
    require_role(actor, *READING)
    app = _app(request)
    if not _readable(app.get_case(case_id), actor):
        return RESTRICTED | {"case_id": str(case_id)}
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


def _view(request: Request, case: FollowUpCase) -> CaseStatus:
    return _status(case, _app(request).clock())


@router.post("/cases/{case_id}/plan", summary="13710: the lead's handling plan (within 1 day)")
def file_plan(case_id: UUID, body: PlanIn, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, *HANDLING)
    case = _app(request).file_plan(case_id, body.summary, body.major, actor, request_trace(request))
    return _view(request, case)


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
    case_id: UUID, body: LongTermPlanIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, "leader")
    app = _app(request)
    zone = app.rules().calendar.zone
    target = datetime.combine(body.target, day_time.max, tzinfo=zone).astimezone(UTC)
    case = app.approve_long_term_plan(case_id, body.summary, target, actor, request_trace(request))
    return _view(request, case)


class ProgressIn(BaseModel):
    model_config = example({"summary": "Employer agreed to pay half by Friday"})
    summary: Text


@router.post("/cases/{case_id}/progress", summary="A progress report (13710: first within 3 days)")
def report_progress(
    case_id: UUID, body: ProgressIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, *HANDLING)
    case = _app(request).report_progress(case_id, body.summary, actor, request_trace(request))
    return _view(request, case)


class OutcomeIn(BaseModel):
    model_config = example(
        {
            "form": "opinion",
            "opinion": "support",
            "summary": "The employer paid the 18,000 yuan owed on 11-28; receipt on file.",
        }
    )
    form: Literal["opinion", "agreement"] = Field(
        description="A handling opinion (处理意见书, Art. 32) or a mediation/settlement "
        "agreement (Art. 33)"
    )
    opinion: Literal["support", "explain", "not-support"] | None = Field(
        default=None, description="For an opinion: 支持 / 解释说明 / 不予支持"
    )
    summary: Text


@router.post(
    "/cases/{case_id}/outcome",
    summary="The outcome: a handling opinion or a mediation agreement, with co-handlers' parts",
)
def record_outcome(
    case_id: UUID, body: OutcomeIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, *HANDLING)
    case = _app(request).record_outcome(
        case_id,
        form=body.form,
        opinion=body.opinion,
        summary=body.summary,
        actor=actor,
        trace=request_trace(request),
    )
    return _view(request, case)


class ReturnVisitIn(BaseModel):
    model_config = example(
        {"satisfaction": "unsatisfied", "notes": "Only half was paid; the rest is still owed"}
    )
    satisfaction: Literal["satisfied", "basically-satisfied", "unsatisfied"]
    notes: Annotated[str, Field(max_length=5000)] = ""


@router.post(
    "/cases/{case_id}/return-visit",
    summary="A return visit's answer (回访); unsatisfied reopens the handling",
)
def return_visit(
    case_id: UUID, body: ReturnVisitIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, *STAFF)
    case = _app(request).record_satisfaction(
        case_id,
        satisfaction=body.satisfaction,
        notes=body.notes,
        source="return-visit",
        actor=actor,
        trace=request_trace(request),
    )
    return _view(request, case)


class CommitmentIn(BaseModel):
    model_config = example({"note": "Signed at the return visit; scan filed as 2026-0412"})
    note: Text


@router.post(
    "/cases/{case_id}/cease-commitment",
    summary="The petitioner signed a cease-petition commitment (息诉罢访承诺书)",
)
def cease_commitment(
    case_id: UUID, body: CommitmentIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, *STAFF)
    case = _app(request).record_cease_commitment(case_id, body.note, actor, request_trace(request))
    return _view(request, case)


@router.post(
    "/cases/{case_id}/close-out", summary="Close the case out (销号), as its policy allows"
)
def close_out(case_id: UUID, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, *SUPERVISING)
    return _view(request, _app(request).close_out(case_id, actor, request_trace(request)))


# --- review and re-review ------------------------------------------------------------------


class ReviewIn(BaseModel):
    model_config = example(
        {
            "level": "review",
            "organ": "宁河区人民政府",
            "reason": "The opinion ignores the overtime hours",
        }
    )
    level: Literal["review", "re-review"] = Field(description="复查 (Art. 35) or 复核 (Art. 36)")
    organ: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The next higher organ that reviews"
    )
    reason: Text


@router.post(
    "/cases/{case_id}/reviews",
    summary="Record the petitioner's request for review or re-review (within 30 days)",
)
def request_review(
    case_id: UUID, body: ReviewIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, "clerk", *SUPERVISING)
    case = _app(request).request_review(
        case_id, body.level, body.organ, body.reason, actor, request_trace(request)
    )
    return _view(request, case)


class DecisionIn(BaseModel):
    model_config = example({"decision": "upheld", "summary": "The opinion stands"})
    decision: Literal["upheld", "revised", "revoked"]
    summary: Text


@router.post(
    "/cases/{case_id}/reviews/decision",
    summary="Decide the open review (within 30 days); a re-review's decision is final",
)
def decide_review(
    case_id: UUID, body: DecisionIn, request: Request, actor: CurrentActor
) -> CaseStatus:
    require_role(actor, *SUPERVISING)
    case = _app(request).decide_review(
        case_id, body.decision, body.summary, actor, request_trace(request)
    )
    return _view(request, case)


# --- the clock -------------------------------------------------------------------------------


class PauseIn(BaseModel):
    model_config = example({"reason": "Hearing (听证) on 12-03"})
    reason: Text


@router.post("/cases/{case_id}/clocks/pause", summary="Pause the running clocks (a hearing)")
def pause(case_id: UUID, body: PauseIn, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, *SUPERVISING)
    case = _app(request).pause_clocks(case_id, body.reason, actor, request_trace(request))
    return _view(request, case)


@router.post("/cases/{case_id}/clocks/resume", summary="Resume them; the pause is not counted")
def resume(case_id: UUID, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, *SUPERVISING)
    return _view(request, _app(request).resume_clocks(case_id, actor, request_trace(request)))


class ExtensionIn(BaseModel):
    model_config = example(
        {"kind": "statutory-handling", "days": 30, "reason": "Awaiting the labour arbitration"}
    )
    kind: Annotated[str, Field(min_length=1, max_length=64)] = "statutory-handling"
    days: int = Field(ge=1, le=365)
    reason: Text


@router.post(
    "/cases/{case_id}/extensions",
    summary="A leader approves the one extension a deadline allows (Art. 34: ≤ 30 days)",
)
def extend(case_id: UUID, body: ExtensionIn, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, "leader")
    case = _app(request).extend(
        case_id, body.kind, body.days, body.reason, actor, request_trace(request)
    )
    return _view(request, case)


class NoticeIn(BaseModel):
    model_config = example({"text": "Report the payment plan by Monday", "department": None})
    text: Text
    department: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Omitted: the lead department"
    )


@router.post(
    "/cases/{case_id}/supervision-notices", summary="Issue a supervision notice (督办) by hand"
)
def supervise(case_id: UUID, body: NoticeIn, request: Request, actor: CurrentActor) -> CaseStatus:
    require_role(actor, *SUPERVISING)
    case = _app(request).issue_supervision_notice(
        case_id, body.text, body.department, actor, request_trace(request)
    )
    return _view(request, case)


@router.get(
    "/deadlines",
    summary="The ledger of deadlines still to be met (督办台账): overdue, due soon, or all",
)
def deadlines(
    request: Request,
    actor: CurrentActor,
    department: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str, Query(pattern="^(running|overdue|due-soon)$")] = "overdue",
    within_hours: Annotated[int, Query(ge=1, le=24 * 90)] = 48,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_role(actor, "handler", *SUPERVISING, "auditor")
    if actor.role == "handler":
        if department not in (None, actor.department):
            raise Forbidden("a handler reads their own department's deadlines")
        department = actor.department
    app = _app(request)
    now = app.clock()
    rows, total = app.ledger.board(
        now=now,
        department=department,
        state=state,
        within=within_hours * 3600,
        limit=limit,
        offset=offset,
    )
    for row in rows:
        row["seconds_left"] = int((row["due_at"] - now).total_seconds())
    return {"as_of": now, "total": total, "items": rows}


# --- policy, calendar, statistics ------------------------------------------------------------


@router.get("/policy", summary="The deadline policy in force: every clock, as data")
def policy(request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING)
    return _app(request).policy.as_dict()


@router.get("/calendar/{year}", summary="A year's holidays and make-up working days")
def calendar(year: int, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING)
    cal = _app(request).rules().calendar
    return {
        "year": year,
        "holidays": sorted(d.isoformat() for d in cal.holidays if d.year == year),
        "make_up_days": sorted(d.isoformat() for d in cal.make_up_days if d.year == year),
        "published": year in cal.years(),
    }


class YearIn(BaseModel):
    model_config = example({"holidays": ["2027-01-01"], "make_up_days": ["2027-01-04"]})
    holidays: list[date] = Field(max_length=60)
    make_up_days: list[date] = Field(default=[], max_length=20)


@router.put(
    "/calendar/{year}", summary="Publish a year's holidays (admin), as the State Council did"
)
def publish_year(year: int, body: YearIn, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, "admin")
    _app(request).publish_holidays(
        year, body.holidays, body.make_up_days, actor, request_trace(request)
    )
    return calendar(year, request, actor)


@router.get(
    "/statistics",
    summary="Indicators per department or jurisdiction tier for cases registered in a period",
)
def get_statistics(
    request: Request,
    actor: CurrentActor,
    start: Annotated[date, Query(alias="from", description="First day (local)")],
    end: Annotated[date, Query(alias="to", description="Day after the last (local)")],
    by: Annotated[
        str,
        Query(
            max_length=64,
            description="all, department, or a tier of the territory (GET /v1/tiers on routing)",
        ),
    ] = "department",
    closure_base: ClosureBase | None = None,
    resolution: Resolution | None = None,
    cessation: Cessation | None = None,
) -> dict[str, Any]:
    """Omitted definitions are the locality's: its territory's, or else the ONESTOP_STATS_*
    settings."""
    require_role(actor, "supervisor", "leader", "auditor", "admin")
    app = _app(request)
    territory = app.territory()
    groupings = (*FIXED_GROUPINGS, *(t.code for t in territory.tiers))
    if by not in groupings:
        raise DomainError(f"by is one of {', '.join(groupings)}", field="by")
    settings = request.app.state.settings
    locality = territory.statistics or Statistics(
        ClosureBase(settings.stats_closure_base),
        Resolution(settings.stats_resolution),
        Cessation(settings.stats_cessation),
    )
    definitions = Statistics(
        closure_base or locality.closure_base,
        resolution or locality.resolution,
        cessation or locality.cessation,
    )
    zone = app.rules().calendar.zone
    begin = datetime.combine(start, day_time.min, tzinfo=zone)
    until = datetime.combine(end, day_time.min, tzinfo=zone)
    return {
        "from": begin.isoformat(),
        "to": until.isoformat(),
        "by": by,
        "definitions": asdict(definitions),
        "groups": app.statistics(begin, until, by, definitions),
    }


# --- the petitioner, with the case code --------------------------------------------------------


class Attempts:
    """Wrong codes per client address: after `limit` in `window` seconds, wait."""

    def __init__(self, limit: int = 10, window: float = 600.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            self._failures[client] = recent
            if len(recent) >= self.limit:
                wait = int(self.window - (now - recent[0])) + 1
                raise TooManyRequests(f"too many wrong case codes; try again in {wait} s", wait)

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._failures.setdefault(client, []).append(now)
            if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
                self._failures = {
                    c: times for c, times in self._failures.items() if now - times[-1] < self.window
                }


ATTEMPTS = Attempts()
PUBLIC_STATUS = {
    "pending-registration": "登记中 registered",
    "registered": "已登记 registered",
    "awaiting-manual-dispatch": "待交办 being routed",
    "assigned": "已交办 with the department",
    "in-progress": "办理中 being handled",
    "reopened": "重新办理 handled again",
    "resolved": "已办结 answered",
    "closed-out": "已销号 closed",
    "under-review": "复查中 under review",
    "under-re-review": "复核中 under re-review",
    "final": "已终结 final",
    "declined": "不予受理 not accepted",
    "diverted": "已引导 to another legal channel",
}


def petitioner_view(case: FollowUpCase) -> dict[str, Any]:
    """What the petitioner sees: where the matter is and what was answered — no names of
    staff, no one else's data, no internal notes."""
    steps: list[dict[str, Any]] = []
    if case.registered_at:
        steps.append({"step": "registered", "at": case.registered_at})
    if case.lead:
        steps.append({"step": "assigned", "at": case.assigned_at, "to": case.lead["name"]})
    steps += [{"step": r["kind"], "at": r["at"]} for r in case.reports]
    steps += [
        {
            "step": "outcome",
            "at": o["at"],
            "form": o["form"],
            "opinion": o["opinion"],
            "summary": o["summary"],
        }
        for o in case.outcomes
    ]
    steps += [
        {"step": "rated", "at": r["at"], "satisfaction": r["satisfaction"]} for r in case.ratings
    ]
    steps += [{"step": "reopened", "at": r["at"]} for r in case.reopenings]
    steps += [
        {"step": r["level"], "at": r["requested_at"], "decision": r["decision"]}
        for r in case.reviews
    ]
    if case.closed_out:
        steps.append({"step": "closed-out", "at": case.closed_out["at"]})
    return {
        "status": case.status,
        "status_text": PUBLIC_STATUS.get(case.status, case.status),
        "subject": case.subject,
        "department": (case.lead or {}).get("name"),
        "steps": sorted(steps, key=lambda s: s["at"]),
        "can_rate": case.outcome is not None and case.rating is None and not case.closed_out,
    }


class LookupIn(BaseModel):
    model_config = example({"code": "K7QM-3XPA-9TRE"})
    code: Annotated[str, Field(min_length=12, max_length=20)]


def _by_code(request: Request, code: str) -> FollowUpCase:
    client = request.client.host if request.client else "?"
    ATTEMPTS.check(client)
    try:
        return _app(request).case_by_code(code)
    except NotFound:
        ATTEMPTS.failed(client)
        raise


@public.post("/lookup", summary="The petitioner looks up progress with the case code (no account)")
def lookup(body: LookupIn, request: Request) -> dict[str, Any]:
    return petitioner_view(_by_code(request, body.code))


class RatingIn(BaseModel):
    model_config = example({"code": "K7QM-3XPA-9TRE", "satisfaction": "satisfied", "comment": ""})
    code: Annotated[str, Field(min_length=12, max_length=20)]
    satisfaction: Literal["satisfied", "basically-satisfied", "unsatisfied"]
    comment: Annotated[str, Field(max_length=2000)] = ""


@public.post("/rating", summary="The petitioner rates the handling (Art. 21); unsatisfied reopens")
def rate(body: RatingIn, request: Request) -> dict[str, Any]:
    case = _by_code(request, body.code)
    rated = _app(request).rate_by_code(body.code, body.satisfaction, body.comment)
    assert rated.id == case.id
    return petitioner_view(rated)
