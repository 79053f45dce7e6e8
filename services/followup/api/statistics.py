"""Indicators per department or any tier of the centre's territory for the cases registered
in a period, each with its numerator, denominator and the definitions used."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from datetime import time as day_time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.followup.api.deps import CurrentActor, FollowUp, SettingsDep
from services.followup.ledger import FIXED_GROUPINGS
from shared.domain import DomainError
from shared.territory import Statistics
from shared.vocabulary import Cessation, ClosureBase, Resolution

router = APIRouter(prefix="/v1", tags=["follow-up"])


@router.get(
    "/statistics",
    summary="Indicators per department or territory tier for cases registered in a period",
)
def get_statistics(
    app: FollowUp,
    settings: SettingsDep,
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
    territory = app.territory()
    groupings = (*FIXED_GROUPINGS, *(t.code for t in territory.tiers))
    if by not in groupings:
        raise DomainError(f"by is one of {', '.join(groupings)}", field="by")
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
