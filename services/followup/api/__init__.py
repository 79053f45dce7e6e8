"""Follow-up's HTTP API, one router per area: a case and its handling (`cases`), its
clocks and the deadline ledger (`deadlines`), its history, the work calendar, statistics,
and, without an account, the petitioner's lookup and rating (`petitioner`). What the
routes depend on is in `deps`."""

from __future__ import annotations

from fastapi import APIRouter

from services.followup.api import (
    calendar,
    cases,
    deadlines,
    evidence,
    history,
    petitioner,
    statistics,
)

router = APIRouter()
"""Every route for staff, under /v1."""
for _area in (cases, history, evidence, deadlines, calendar, statistics):
    router.include_router(_area.router)

public = petitioner.router
"""The petitioner's routes, under /v1/public."""

__all__ = ["public", "router"]
