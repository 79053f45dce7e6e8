"""Registering a case at the one door, from any channel, and deciding about it: listing and
reading cases, classifying them by law and deciding acceptance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from services.intake import commands, domain
from services.intake.api.deps import (
    CurrentActor,
    Intake,
    RequestTrace,
)
from services.intake.api.views import CaseView, Strict, case_view, progress_view
from services.intake.application import Outcome, PossibleDuplicates, fingerprint
from services.intake.domain import (
    AcceptanceDecision,
    Case,
    DuplicateAction,
    ExternalReference,
    GroupPetition,
    Whereabouts,
)
from services.intake.index import Query as CaseQuery
from shared.domain import Actor, DomainError, Trace
from shared.http import example, problem
from shared.listing import COUNT_CAP, page_total
from shared.policy import Sight
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass

router = APIRouter(prefix="/v1", tags=["cases"])

Text = Annotated[str, Field(min_length=1, max_length=200)]


class PetitionerIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50, description="Full name (信访人)")]
    id_number: Annotated[
        str | None,
        Field(default=None, max_length=18, description="18-character mainland ID-card number"),
    ]
    phone: Annotated[
        str | None,
        Field(default=None, min_length=5, max_length=20, description="Mobile or landline"),
    ]
    address: Annotated[str | None, Field(default=None, max_length=200)]


class GroupIn(Strict):
    """集体访: how many people share the matter, and their elected representatives (≤ 5)."""

    participant_count: Annotated[int, Field(ge=2, le=100_000)]
    representatives: Annotated[
        list[PetitionerIn], Field(min_length=1, max_length=50, description="At most 5 (Art. 20)")
    ]


class LocationIn(Strict):
    place: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="A place of the centre's territory (GET /v1/places): the community, "
            "village, grid… where the matter is",
        ),
    ]
    lat: Annotated[float | None, Field(default=None, ge=-90, le=90)]
    long: Annotated[float | None, Field(default=None, ge=-180, le=180)]


class ExternalIn(Strict):
    """Where a case pushed in by another system came from; `reference` makes it idempotent."""

    system: Annotated[str, Field(min_length=1, max_length=60)]
    reference: Annotated[str | None, Field(default=None, min_length=1, max_length=100)]


class DuplicateDecision(Strict):
    """The clerk's answer to `possible-duplicates`: link to an earlier case, or register anew."""

    action: Literal["link", "new"]
    case_id: Annotated[UUID | None, Field(default=None, description="The case to link to")]
    reason: Annotated[str | None, Field(default=None, max_length=500)]
    new_facts: Annotated[
        str | None,
        Field(default=None, max_length=2000, description="What is new, for a final matter"),
    ]
    note: Annotated[str | None, Field(default=None, max_length=500)]

    @model_validator(mode="after")
    def _complete(self) -> DuplicateDecision:
        if self.action == "link" and self.case_id is None:
            raise ValueError("linking names the case_id to link to")
        return self


class RegisterCase(Strict):
    """A submission from any channel; becomes a case the moment it is registered."""

    model_config = example(
        {
            "channel": "visit",
            "petitioner": {
                "name": "王建国",
                "id_number": "120117198503150016",
                "phone": "138 0013 8000",
                "address": "宁河区芦台街道锦绣社区3号楼",
            },
            "subject": "装修公司拖欠工资三个月",
            "description": "在芦台街道某装修公司务工，8至10月工资共1.8万元未发放。",
            "category": "labour-wages",
            "legal_class": "claim",
            "location": {"place": "jinxiu"},
        }
    )
    channel: Channel
    petitioner: PetitionerIn | None = None
    group: GroupIn | None = None
    subject: Text
    description: Annotated[str, Field(min_length=1, max_length=5000)]
    category: Annotated[
        str, Field(min_length=1, max_length=50, description="See GET /v1/categories")
    ]
    location: LocationIn
    legal_class: LegalClass | None = None
    addressed_to: Annotated[
        str | None, Field(default=None, max_length=100, description="Leader-mailbox: whose")
    ]
    external: ExternalIn | None = None
    duplicate_decision: DuplicateDecision | None = None

    @model_validator(mode="after")
    def _one_kind_of_petitioner(self) -> RegisterCase:
        if self.petitioner and self.group:
            raise ValueError("give either a petitioner or a group, not both")
        return self


class Registered(BaseModel):
    outcome: Literal["registered", "existing", "linked", "refused"]
    case_id: UUID
    status: str
    message: str
    repeat_count: int
    progress: dict[str, Any] | None
    case_code: str = Field(
        description="Give it to the petitioner: with it they look up progress and rate the "
        "handling at /v1/public/lookup on follow-up, without an account."
    )


class CasePage(BaseModel):
    total: int = Field(description=f"How many cases match, counted up to {COUNT_CAP:,}")
    total_exact: bool = Field(description=f"False when more than {COUNT_CAP:,} match")
    limit: int
    offset: int
    cases: list[CaseView]


class ClassifyCase(Strict):
    model_config = example(
        {
            "legal_class": "accusation",
            "accused": "芦台街道城管中队",
            "note": "举报执法人员收受好处",
        }
    )
    legal_class: LegalClass
    litigation_related: bool = Field(
        default=False, description="涉法涉诉: belongs to the courts or another legal channel"
    )
    accused: Annotated[
        str | None, Field(default=None, max_length=100, description="Accusations: who is accused")
    ]
    note: Annotated[str | None, Field(default=None, max_length=500)]


class DecideAcceptance(Strict):
    model_config = example(
        {"decision": "divert", "reason": "已进入诉讼程序", "diverted_to": "court"}
    )
    decision: Decision
    reason: Annotated[str | None, Field(default=None, max_length=1000)]
    diverted_to: LegalChannel | None = None


MESSAGES = {
    "registered": "registered as a new case",
    "existing": "this submission was already registered; nothing new was created",
    "linked": "linked to the earlier case as a repeat; no new case — tell the petitioner its "
    "progress",
    "refused": "refused: the matter is final after re-review and the same facts are not "
    "accepted again (《信访工作条例》第三十六条); the repeat was recorded",
}


def answer(outcome: Outcome, response: Response, code: str) -> Registered:
    case = outcome.case
    response.status_code = 201 if outcome.outcome == "registered" else 200
    response.headers["Location"] = f"/v1/cases/{case.id}"
    if outcome.outcome == "existing":
        response.headers["Idempotent-Replayed"] = "true"
    return Registered(
        outcome=outcome.outcome,
        case_id=case.id,
        status=case.status.value,
        message=MESSAGES[outcome.outcome],
        repeat_count=case.repeat_count,
        progress=progress_view(case),
        case_code=code,
    )


def duplicates_problem(error: PossibleDuplicates) -> JSONResponse:
    candidates = [
        {
            "case_id": str(c["case_id"]),
            "registered_at": c["registered_at"].isoformat(),
            "category": c["category"],
            "status": c["status"],
            "place": c["place"],
            "path": c["path"],
            "reasons": c["reasons"],
        }
        for c in error.candidates
    ]
    return problem(
        409, "possible-duplicates", "Likely an existing matter", str(error), candidates=candidates
    )


@router.post(
    "/cases",
    status_code=201,
    response_model=Registered,
    summary="Register a submission from any channel",
    responses={
        200: {
            "description": "A retried submission, or a repeat linked to or refused by an "
            "earlier case"
        },
        409: {"description": "Likely duplicates: resubmit with duplicate_decision"},
        422: {"description": "Invalid fields, each named (problem+json)"},
    },
)
async def register_case(
    body: RegisterCase,
    response: Response,
    app: Intake,
    actor: CurrentActor,
    trace: RequestTrace,
    idempotency_key: Annotated[
        str | None, Header(max_length=100, description="Makes a retried POST safe")
    ] = None,
) -> Any:
    given = body.external
    external = ExternalReference(given.system, given.reference) if given else None
    if actor.role == "integration":
        if body.channel is not Channel.SYSTEM:
            raise DomainError("another system files cases on the 'system' channel", "channel")
        external = ExternalReference(actor.user, given.reference if given else None)
    elif body.channel is Channel.SYSTEM:
        raise DomainError("the 'system' channel is for other systems' tokens", field="channel")
    people = (
        [body.petitioner] if body.petitioner else (body.group.representatives if body.group else [])
    )
    duplicate = body.duplicate_decision
    command = commands.RegisterCase(
        channel=body.channel,
        petitioners=tuple(
            commands.PersonGiven(p.name, p.id_number, p.phone, p.address) for p in people
        ),
        group=GroupPetition(body.group.participant_count) if body.group else None,
        subject=body.subject,
        description=body.description,
        category=body.category,
        location=Whereabouts(body.location.place, body.location.lat, body.location.long),
        legal_class=body.legal_class,
        addressed_to=body.addressed_to,
        external=external,
        idempotency_key=idempotency_key,
        duplicate_decision=domain.DuplicateDecision(
            DuplicateAction(duplicate.action),
            duplicate.case_id,
            duplicate.reason,
            duplicate.new_facts,
            duplicate.note,
        )
        if duplicate
        else None,
        fingerprint=fingerprint(body.model_dump(mode="json", exclude={"duplicate_decision"})),
    )
    try:
        # The one blocking step goes to the thread pool; the rest of the request (and the
        # answer's validation) stays on the event loop, without two more hops there and back.
        outcome = await run_in_threadpool(app.register, command, actor, trace)
    except PossibleDuplicates as error:
        return duplicates_problem(error)
    return answer(outcome, response, app.case_code(outcome.case.id))


@router.get("/cases", response_model=CasePage, summary="List cases, newest first")
def list_cases(
    app: Intake,
    actor: CurrentActor,
    trace: RequestTrace,
    category: Annotated[list[str] | None, Query()] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    place: Annotated[
        str | None, Query(max_length=64, description="Cases at this place or within it")
    ] = None,
    registered_from: Annotated[datetime | None, Query(alias="from")] = None,
    registered_to: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasePage:
    query = CaseQuery(
        categories=category,
        open=None if status is None else status == "open",
        within=place,
        registered_from=registered_from,
        registered_to=registered_to,
        limit=limit,
        offset=offset,
    )
    cases, total = app.cases(query, actor)
    territory = app.territory()
    note_reads(app, actor, "intake.list_cases", cases, trace)
    return CasePage(
        **page_total(total),
        limit=limit,
        offset=offset,
        cases=[case_view(c, seen, territory) for c, seen in cases],
    )


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case as intake knows it")
def get_case(case_id: UUID, app: Intake, actor: CurrentActor, trace: RequestTrace) -> CaseView:
    case, seen = app.case_for(case_id, actor)
    note_reads(app, actor, "intake.get_case", [(case, seen)], trace)
    return case_view(case, seen, app.territory(), app.case_code(case.id))


@router.post(
    "/cases/{case_id}/classification", response_model=CaseView, summary="Set the legal class"
)
def classify_case(
    case_id: UUID, body: ClassifyCase, app: Intake, actor: CurrentActor, trace: RequestTrace
) -> CaseView:
    command = commands.Classify(
        case_id, body.legal_class, body.litigation_related, body.accused, body.note
    )
    app.classify(command, actor, trace)
    return get_case(case_id, app, actor, trace)


@router.post(
    "/cases/{case_id}/acceptance",
    response_model=CaseView,
    summary="Accept, decline (with reason) or divert to a legal channel",
)
def decide_acceptance(
    case_id: UUID, body: DecideAcceptance, app: Intake, actor: CurrentActor, trace: RequestTrace
) -> CaseView:
    decision = AcceptanceDecision(body.decision, body.reason, body.diverted_to)
    app.decide_acceptance(commands.DecideAcceptance(case_id, decision), actor, trace)
    return get_case(case_id, app, actor, trace)


def note_reads(
    app: Intake, actor: Actor, operation: str, cases: list[tuple[Case, Sight]], trace: Trace
) -> None:
    """The cases whose petitioners this answer shows unmasked, recorded before it is sent."""
    shown: list[tuple[str | None, list[str]]] = [
        (str(case.id), case.petitioner_ids or ["(anonymous)"])
        for case, seen in cases
        if seen is Sight.FULL and case.petitioners
    ]
    if shown:
        app.note_reads(actor, operation, shown, trace.correlation_id)
