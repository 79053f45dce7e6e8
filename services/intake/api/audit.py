"""For an auditor: who saw which petitioner's personal data unmasked, when, through which
operation (see `services.intake.reads`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from services.intake.api.deps import CurrentActor, Intake
from services.intake.reads import ReadQuery
from shared.listing import page_total

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "/personal-data-reads",
    summary="Who saw whose personal data unmasked, newest first (auditor)",
)
def personal_data_reads(
    app: Intake,
    _: CurrentActor,
    petitioner_id: UUID | None = None,
    user: Annotated[str | None, Query(max_length=100)] = None,
    case_id: UUID | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query = ReadQuery(
        petitioner_id=str(petitioner_id) if petitioner_id else None,
        user=user,
        case_id=str(case_id) if case_id else None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    reads, total = app.reads.search(query)
    shown = [asdict(r) for r in reads]
    return {**page_total(total), "limit": limit, "offset": offset, "reads": shown}
