"""Intake's HTTP API: register at the one door, classify, decide acceptance, find petitioners."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from services.intake import commands, domain
from services.intake.application import (
    IntakeApplication,
    Outcome,
    PossibleDuplicates,
    fingerprint,
)
from services.intake.domain import (
    AcceptanceDecision,
    Case,
    DuplicateAction,
    ExternalReference,
    GroupPetition,
    PersonShown,
    Petitioner,
    Whereabouts,
    masked,
)
from services.intake.index import Query as CaseQuery
from services.intake.queue import Figures, Layout, Ticket, TicketState
from shared.auth import CurrentActor, Forbidden, require_role
from shared.domain import Actor, DomainError
from shared.http import example, problem, request_trace
from shared.territory import Location, Territory
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass

router = APIRouter(prefix="/v1", tags=["cases"])

REGISTERING_ROLES = ("clerk", "admin", "integration")
DECIDING_ROLES = ("clerk", "supervisor", "leader", "admin")
READING_ROLES = ("clerk", "handler", "supervisor", "leader", "auditor", "admin", "integration")

Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class CaseView(BaseModel):
    case_id: UUID
    status: str
    channel: Channel
    petitioners: list[dict[str, Any]]
    group: dict[str, Any] | None
    subject: str
    description: str
    category: str
    location: dict[str, Any] = Field(
        description="The place, its path of places from the top tier, and their names"
    )
    legal_class: str | None
    litigation_related: bool
    accused: str | None
    addressed_to: str | None
    external: dict[str, Any] | None
    acceptance: dict[str, Any] | None
    notice_required: bool
    duplicate_review: dict[str, Any] | None
    repeat_count: int
    progress: dict[str, Any] | None
    first_receiver: str
    registered_by: dict[str, Any]
    registered_at: datetime
    updated_at: datetime | None
    version: int


class CasePage(BaseModel):
    total: int
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


def _app(request: Request) -> IntakeApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


def location_view(location: Location, territory: Territory) -> dict[str, Any]:
    return {**location.as_dict(), "label": territory.place_label(location)}


def person_view(shown: PersonShown, petitioner_id: str | None = None) -> dict[str, Any]:
    """A person as shown to the caller (masked or not), with their registry id if known."""
    details = shown.details
    seen: dict[str, Any] = {
        "name": details.name,
        "id_number": details.id_number,
        "phone": details.phone,
        "address": details.address,
    }
    if petitioner_id:
        seen["petitioner_id"] = petitioner_id
    return {**seen, "masked": shown.masked}


def progress_view(case: Case) -> dict[str, Any] | None:
    progress = case.progress
    if progress is None:
        return None
    return {"stage": progress.stage.value, "summary": progress.summary, "at": progress.at}


def acceptance_view(case: Case) -> dict[str, Any] | None:
    acceptance = case.acceptance
    if acceptance is None:
        return None
    decided = acceptance.decision
    return {
        "decision": decided.decision.value,
        "reason": decided.reason,
        "diverted_to": decided.diverted_to.value if decided.diverted_to else None,
        "notice_required": acceptance.notice_required,
        "decided_at": acceptance.decided_at,
        "decided_by": acceptance.decided_by.as_dict(),
    }


def view(case: Case, actor: Actor, territory: Territory) -> CaseView:
    review = case.duplicate_review
    return CaseView(
        case_id=case.id,
        status=case.status.value,
        channel=case.channel,
        petitioners=[
            person_view(shown, p.petitioner_id) for p, shown in case.petitioners_for(actor)
        ],
        group=asdict(case.group) if case.group else None,
        subject=case.subject,
        description=case.description,
        category=case.category,
        location=location_view(case.location, territory),
        legal_class=case.legal_class.value if case.legal_class else None,
        litigation_related=case.litigation_related,
        accused=case.accused,
        addressed_to=case.addressed_to,
        external=asdict(case.external) if case.external else None,
        acceptance=acceptance_view(case),
        notice_required=case.notice_required,
        duplicate_review={
            "candidates": list(review.candidates),
            "decision": review.decision.value,
            "reason": review.reason,
            "new_facts": review.new_facts,
        }
        if review
        else None,
        repeat_count=case.repeat_count,
        progress=progress_view(case),
        first_receiver=case.first_receiver,
        registered_by=case.registered_by.as_dict(),
        registered_at=case.created_on,
        updated_at=case.updated_at,
        version=case.version,
    )


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
    request: Request,
    response: Response,
    actor: CurrentActor,
    idempotency_key: Annotated[
        str | None, Header(max_length=100, description="Makes a retried POST safe")
    ] = None,
) -> Any:
    require_role(actor, *REGISTERING_ROLES)
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
    app = _app(request)
    try:
        # The one blocking step goes to the thread pool; the rest of the request (and the
        # answer's validation) stays on the event loop, without two more hops there and back.
        outcome = await run_in_threadpool(app.register, command, actor, request_trace(request))
    except PossibleDuplicates as error:
        return duplicates_problem(error)
    return answer(outcome, response, app.case_code(outcome.case.id))


@router.get("/cases", response_model=CasePage, summary="List cases, newest first")
def list_cases(
    request: Request,
    actor: CurrentActor,
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
    require_role(actor, *READING_ROLES)
    query = CaseQuery(
        categories=category,
        open=None if status is None else status == "open",
        within=place,
        registered_from=registered_from,
        registered_to=registered_to,
        external_system=actor.user if actor.role == "integration" else None,
        limit=limit,
        offset=offset,
    )
    app = _app(request)
    cases, total = app.cases(query)
    territory = app.territory()
    return CasePage(
        total=total, limit=limit, offset=offset, cases=[view(c, actor, territory) for c in cases]
    )


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case as intake knows it")
def get_case(case_id: UUID, request: Request, actor: CurrentActor) -> CaseView:
    require_role(actor, *READING_ROLES)
    app = _app(request)
    case = app.get_case(case_id)
    if actor.role == "integration" and (
        case.external is None or case.external.system != actor.user
    ):
        raise Forbidden("another system reads only the cases it filed")
    return view(case, actor, app.territory())


@router.post(
    "/cases/{case_id}/classification", response_model=CaseView, summary="Set the legal class"
)
def classify_case(
    case_id: UUID, body: ClassifyCase, request: Request, actor: CurrentActor
) -> CaseView:
    require_role(actor, *DECIDING_ROLES)
    app = _app(request)
    command = commands.Classify(
        case_id, body.legal_class, body.litigation_related, body.accused, body.note
    )
    case = app.classify(command, actor, request_trace(request))
    return view(case, actor, app.territory())


@router.post(
    "/cases/{case_id}/acceptance",
    response_model=CaseView,
    summary="Accept, decline (with reason) or divert to a legal channel",
)
def decide_acceptance(
    case_id: UUID, body: DecideAcceptance, request: Request, actor: CurrentActor
) -> CaseView:
    require_role(actor, *DECIDING_ROLES)
    app = _app(request)
    decision = AcceptanceDecision(body.decision, body.reason, body.diverted_to)
    case = app.decide_acceptance(
        commands.DecideAcceptance(case_id, decision), actor, request_trace(request)
    )
    return view(case, actor, app.territory())


@router.get("/petitioners", summary="Find a petitioner by ID-card number or phone")
def find_petitioner(
    request: Request,
    actor: CurrentActor,
    id_number: Annotated[str | None, Query(max_length=18)] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    require_role(actor, *DECIDING_ROLES)
    person = _app(request).find_petitioner(id_number=id_number, phone=phone)
    return petitioner_view(person, actor)


@router.get("/petitioners/{petitioner_id}", summary="A petitioner, their cases and repeats")
def get_petitioner(petitioner_id: UUID, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING_ROLES[:-1])
    return petitioner_view(_app(request).petitioner(petitioner_id), actor)


def petitioner_view(person: Petitioner, actor: Actor) -> dict[str, Any]:
    return {
        "petitioner_id": str(person.id),
        **person_view(masked(person.details, actor)),
        "case_ids": person.case_ids,
        "repeat_count": person.repeat_count,
    }


@router.get("/categories", summary="Case categories a registration may use")
def categories(request: Request, _: CurrentActor) -> list[dict[str, Any]]:
    return [asdict(c) for c in _app(request).territory().categories.values() if c.active]


@router.get("/places", summary="The places a case may be filed at (the territory's registry)")
def places(request: Request, _: CurrentActor) -> list[dict[str, Any]]:
    territory = _app(request).territory()
    return [
        {
            "code": p.code,
            "name": p.name,
            "tier": p.tier,
            "grid": territory.grid(p),
            "path": [x.code for x in territory.path(p.code)],
            "label": " ".join(x.name for x in territory.path(p.code)),
        }
        for p in territory.places.values()
        if p.active
    ]


@router.get("/legal-channels", summary="Where a diverted matter may be sent (诉访分离)")
def legal_channels(_: CurrentActor) -> list[str]:
    return [c.value for c in LegalChannel]


queue = APIRouter(prefix="/v1/queue", tags=["queue"])

QUEUE_ROLES = ("clerk", "handler", "admin")


class TicketIn(Strict):
    model_config = example({"line": "B"})
    line: Annotated[str, Field(min_length=1, max_length=1)]


class TransferIn(Strict):
    model_config = example({"to_window": "W03", "reason": "涉及拆迁补偿，由住建窗口接待"})
    to_window: Annotated[str, Field(min_length=1, max_length=10)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class FinishIn(Strict):
    model_config = example({"outcome": "served", "case_id": "0b7d3f7e-5a52-4c1e-9d55-4a3f1f6a0c11"})
    outcome: Literal["served", "no-show"]
    case_id: UUID | None = None


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "line": ticket.line,
        "issued_at": ticket.issued_at,
        "state": ticket.state.value,
        "window": ticket.window,
        "for_window": ticket.for_window,
        "first_called_at": ticket.first_called_at,
        "called_at": ticket.called_at,
        "finished_at": ticket.finished_at,
        "case_id": ticket.case_id,
        "transfers": [
            {"from": t.from_window, "to": t.to_window, "reason": t.reason} for t in ticket.transfers
        ],
    }


def figures_view(figures: Figures) -> dict[str, Any]:
    return asdict(figures)


def windows_view(layout: Layout) -> dict[str, dict[str, list[str]]]:
    return {
        code: {"departments": list(w.departments), "lines": list(w.lines)}
        for code, w in layout.windows.items()
    }


@queue.get("", summary="Lines, windows and today's tickets, with waiting figures")
def queue_board(request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING_ROLES)
    app = _app(request)
    layout, today = app.layout(), app.queue_today()
    return {
        "lines": dict(layout.lines),
        "windows": windows_view(layout),
        "tickets": [ticket_view(t) for t in today.tickets.values()],
        "figures": figures_view(today.figures(app.clock(), layout)),
    }


@queue.get("/figures", summary="Waiting-time figures per line, today (the centre's local day)")
def queue_figures(request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *READING_ROLES)
    app = _app(request)
    return figures_view(app.queue_today().figures(app.clock(), app.layout()))


@queue.post("/tickets", status_code=201, summary="A visitor takes a ticket for a line")
def take_ticket(body: TicketIn, request: Request, actor: CurrentActor) -> dict[str, Any]:
    require_role(actor, *QUEUE_ROLES)
    return ticket_view(_app(request).issue_ticket(commands.IssueTicket(body.line), actor))


@queue.post(
    "/windows/{code}/call",
    summary="The window calls its next visitor (the one it served is done)",
    responses={204: {"description": "Nobody is waiting for this window"}},
)
def call_next(code: str, request: Request, actor: CurrentActor) -> Any:
    require_role(actor, *QUEUE_ROLES)
    ticket = _app(request).call_next(commands.CallNext(code), actor)
    return ticket_view(ticket) if ticket is not None else Response(status_code=204)


@queue.post("/tickets/{number}/transfer", summary="Send the visitor to another window")
def transfer_ticket(
    number: str, body: TransferIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, *QUEUE_ROLES)
    command = commands.TransferTicket(number, body.to_window, body.reason)
    return ticket_view(_app(request).transfer_ticket(command, actor))


@queue.post("/tickets/{number}/finish", summary="The visitor was served, or did not come")
def finish_ticket(
    number: str, body: FinishIn, request: Request, actor: CurrentActor
) -> dict[str, Any]:
    require_role(actor, *QUEUE_ROLES)
    command = commands.FinishTicket(number, TicketState(body.outcome), body.case_id)
    return ticket_view(_app(request).finish_ticket(command))
