"""Intake's HTTP API: register a case at the one door, read it back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.intake.application import IntakeApplication
from services.intake.domain import Case, Channel
from shared.auth import CurrentActor, require_role
from shared.domain import Trace
from shared.reference import CATEGORIES

router = APIRouter(prefix="/v1", tags=["cases"])

REGISTERING_ROLES = ("clerk", "admin")


class PetitionerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=50, description="Full name (信访人)")]
    phone: Annotated[
        str, Field(min_length=5, max_length=20, description="Mainland mobile or landline")
    ]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    district: Annotated[str, Field(min_length=1, max_length=50)]
    street: Annotated[
        str, Field(min_length=1, max_length=50, description="Street (街道) or town (镇)")
    ]
    community: Annotated[
        str | None, Field(default=None, max_length=50, description="Community or village")
    ]


class RegisterCase(BaseModel):
    """A submission from any channel; becomes a case the moment it is registered."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "visit",
                    "petitioner": {"name": "王建国", "phone": "138 0013 8000"},
                    "subject": "装修公司拖欠工资三个月",
                    "description": "在芦台街道某装修公司务工，8至10月工资共1.8万元未发放。",
                    "category": "labour-wages",
                    "location": {"district": "ninghe", "street": "lutai", "community": "jinxiu"},
                }
            ]
        },
    )
    channel: Channel
    petitioner: PetitionerIn
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(min_length=1, max_length=5000)]
    category: Annotated[
        str, Field(min_length=1, max_length=50, description="See GET /v1/categories")
    ]
    location: LocationIn


class Registered(BaseModel):
    case_id: UUID


class CaseView(BaseModel):
    case_id: UUID
    channel: Channel
    petitioner: dict[str, Any]
    subject: str
    description: str
    category: str
    location: dict[str, Any]
    first_receiver: str
    registered_by: dict[str, Any]
    registered_at: datetime
    version: int


def _app(request: Request) -> IntakeApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


@router.post("/cases", status_code=201, response_model=Registered, summary="Register a case")
def register_case(body: RegisterCase, request: Request, actor: CurrentActor) -> Registered:
    require_role(actor, *REGISTERING_ROLES)
    case = _app(request).register_case(
        channel=body.channel,
        petitioner_name=body.petitioner.name,
        petitioner_phone=body.petitioner.phone,
        subject=body.subject,
        description=body.description,
        category=body.category,
        location=body.location.model_dump(),
        actor=actor,
        trace=Trace(correlation_id=request.state.correlation_id),
    )
    return Registered(case_id=case.id)


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case as registered")
def get_case(case_id: UUID, request: Request, actor: CurrentActor) -> CaseView:
    case: Case = _app(request).get_case(case_id)
    return CaseView(
        case_id=case.id,
        channel=Channel(case.channel),
        petitioner=case.petitioner_for(actor),
        subject=case.subject,
        description=case.description,
        category=case.category,
        location=case.location,
        first_receiver=case.first_receiver,
        registered_by=case.registered_by,
        registered_at=case.created_on,
        version=case.version,
    )


@router.get("/categories", summary="Case categories a registration may use")
def categories(_: CurrentActor) -> dict[str, str]:
    return CATEGORIES
