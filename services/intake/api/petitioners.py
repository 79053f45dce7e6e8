"""The petitioner registry: a person found by ID-card number or phone, with their cases and
repeats — as much of them as the caller may see of the person's cases (`shared.policy`):
unmasked for those who need to know, masked for the others, only the cases they may see,
and not found at all by one who sees none of them. Every unmasked answer is recorded."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.intake.api.deps import CurrentActor, Intake, RequestTrace
from services.intake.api.views import person_view
from services.intake.commands import ErasePetitioner
from services.intake.domain import ErasureBasis, shown
from shared.domain import Actor, Trace
from shared.http import example
from shared.policy import Sight

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/petitioners", summary="Find a petitioner by ID-card number or phone")
def find_petitioner(
    app: Intake,
    actor: CurrentActor,
    trace: RequestTrace,
    id_number: Annotated[str | None, Query(max_length=18)] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    found = app.find_petitioner_id(id_number=id_number, phone=phone)
    return petitioner_view(app, found, actor, trace, "intake.find_petitioner")


@router.get("/petitioners/{petitioner_id}", summary="A petitioner, their cases and repeats")
def get_petitioner(
    petitioner_id: UUID, app: Intake, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    return petitioner_view(app, petitioner_id, actor, trace, "intake.get_petitioner")


def petitioner_view(
    app: Intake, petitioner_id: UUID, actor: Actor, trace: Trace, operation: str
) -> dict[str, Any]:
    person, seen, cases = app.petitioner_for(petitioner_id, actor)
    if seen is Sight.FULL:
        app.note_reads(actor, operation, [(None, [str(person.id)])], trace.correlation_id)
    return {
        "petitioner_id": str(person.id),
        **person_view(shown(person.details, seen)),
        "case_ids": cases,
        "repeat_count": person.repeat_count,
    }


class ErasureIn(BaseModel):
    model_config = example({"basis": "request", "reference": "个人信息删除申请 2026-118号"})
    basis: ErasureBasis = Field(
        description="retention: every case of theirs ended longer ago than the retention "
        "period; request: a lawful request (the person's own, or an authority's)"
    )
    reference: str | None = Field(
        default=None,
        max_length=200,
        description="The request's or decision's reference (required for a request)",
    )


@router.post(
    "/petitioners/{petitioner_id}/erasure",
    summary="Erase a petitioner's personal data everywhere (个人信息保护法): their key is "
    "destroyed; every case history, checkpoint and dossier still verifies",
)
def erase_petitioner(
    petitioner_id: UUID, body: ErasureIn, app: Intake, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = ErasePetitioner(petitioner_id, body.basis, body.reference)
    person = app.erase_petitioner(command, actor, trace)
    return {
        "petitioner_id": str(person.id),
        "erased": True,
        "erased_at": person.erased_at,
        "case_ids": person.case_ids,
    }
