"""The petitioner registry: a person found by ID-card number or phone, with their cases and
repeats — as much of them as the caller may see of the person's cases (`shared.policy`):
unmasked for those who need to know, masked for the others, only the cases they may see,
and not found at all by one who sees none of them. Every unmasked answer is recorded."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from services.intake.api.deps import CurrentActor, Intake, RequestTrace
from services.intake.api.views import person_view
from services.intake.domain import shown
from shared.domain import Actor, Trace
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
