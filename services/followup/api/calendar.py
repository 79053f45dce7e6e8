"""The work calendar: a year's public holidays and make-up working days, and an admin
publishing a new year as the State Council announced it."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.followup.api.deps import CurrentActor, FollowUp, RequestTrace
from services.followup.application import FollowUpApplication
from services.followup.commands import PublishHolidays
from shared.http import example

router = APIRouter(prefix="/v1", tags=["follow-up"])


def _year(app: FollowUpApplication, year: int) -> dict[str, Any]:
    cal = app.rules().calendar
    return {
        "year": year,
        "holidays": sorted(d.isoformat() for d in cal.holidays if d.year == year),
        "make_up_days": sorted(d.isoformat() for d in cal.make_up_days if d.year == year),
        "published": year in cal.years(),
    }


@router.get("/calendar/{year}", summary="A year's holidays and make-up working days")
def calendar(year: int, app: FollowUp, actor: CurrentActor) -> dict[str, Any]:
    return _year(app, year)


class YearIn(BaseModel):
    model_config = example({"holidays": ["2027-01-01"], "make_up_days": ["2027-01-04"]})
    holidays: list[date] = Field(max_length=60)
    make_up_days: list[date] = Field(default=[], max_length=20)


@router.put(
    "/calendar/{year}", summary="Publish a year's holidays (admin), as the State Council did"
)
def publish_year(
    year: int, body: YearIn, app: FollowUp, actor: CurrentActor, trace: RequestTrace
) -> dict[str, Any]:
    command = PublishHolidays(
        year=year,
        holidays=tuple(body.holidays),
        make_up_days=tuple(body.make_up_days),
        actor=actor,
        trace=trace,
    )
    app.publish_holidays(command)
    return _year(app, year)
