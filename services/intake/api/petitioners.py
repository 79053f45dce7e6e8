"""The petitioner registry: a person found by ID-card number or phone, with their cases and
repeats, their personal data masked for roles not entitled to it."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from services.intake.api.deps import CurrentActor, Intake
from services.intake.api.views import person_view
from services.intake.domain import Petitioner, masked
from shared.domain import Actor

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/petitioners", summary="Find a petitioner by ID-card number or phone")
def find_petitioner(
    app: Intake,
    actor: CurrentActor,
    id_number: Annotated[str | None, Query(max_length=18)] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    return petitioner_view(app.find_petitioner(id_number=id_number, phone=phone), actor)


@router.get("/petitioners/{petitioner_id}", summary="A petitioner, their cases and repeats")
def get_petitioner(petitioner_id: UUID, app: Intake, actor: CurrentActor) -> dict[str, Any]:
    return petitioner_view(app.petitioner(petitioner_id), actor)


def petitioner_view(person: Petitioner, actor: Actor) -> dict[str, Any]:
    return {
        "petitioner_id": str(person.id),
        **person_view(masked(person.details, actor)),
        "case_ids": person.case_ids,
        "repeat_count": person.repeat_count,
    }
