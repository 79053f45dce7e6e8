"""Indicators per department or jurisdiction tier for the cases registered in a period,
each with its numerator, denominator and the definitions used."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from datetime import time as day_time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.followup.api.deps import CurrentActor, FollowUp, SettingsDep
from services.followup.ledger import GROUPINGS, Definitions
from shared.auth import require_role

router = APIRouter(prefix="/v1", tags=["follow-up"])


@router.get(
    "/statistics",
    summary="Indicators per department or jurisdiction tier for cases registered in a period",
)
def get_statistics(
    app: FollowUp,
    settings: SettingsDep,
    actor: CurrentActor,
    start: Annotated[date, Query(alias="from", description="First day (local)")],
    end: Annotated[date, Query(alias="to", description="Day after the last (local)")],
    by: Annotated[str, Query(pattern=f"^({'|'.join(GROUPINGS)})$")] = "department",
    closure_base: Literal["registered", "accepted"] | None = None,
    resolution: Literal["settled", "closed-out"] | None = None,
    cessation: Literal["commitment", "no-repeat", "either"] | None = None,
) -> dict[str, Any]:
    """Omitted definitions are the locality's (ONESTOP_STATS_* settings)."""
    require_role(actor, "supervisor", "leader", "auditor", "admin")
    closure_base = closure_base or settings.stats_closure_base
    resolution = resolution or settings.stats_resolution
    cessation = cessation or settings.stats_cessation
    zone = app.rules().calendar.zone
    begin = datetime.combine(start, day_time.min, tzinfo=zone)
    until = datetime.combine(end, day_time.min, tzinfo=zone)
    definitions = Definitions(closure_base, resolution, cessation)  # type: ignore[arg-type]
    return {
        "from": begin.isoformat(),
        "to": until.isoformat(),
        "by": by,
        "definitions": asdict(definitions),
        "groups": app.statistics(begin, until, by, definitions),
    }
