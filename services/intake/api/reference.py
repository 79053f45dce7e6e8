"""What a registration may name, from the centre's territory: categories and places; and the
legal channels a matter may be diverted to."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from services.intake.api.deps import CurrentActor, Intake
from shared.vocabulary import LegalChannel

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/categories", summary="Case categories a registration may use")
def categories(app: Intake, _: CurrentActor) -> list[dict[str, Any]]:
    return [asdict(c) for c in app.territory().categories.values() if c.active]


@router.get("/places", summary="The places a case may be filed at (the territory's registry)")
def places(app: Intake, _: CurrentActor) -> list[dict[str, Any]]:
    territory = app.territory()
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
