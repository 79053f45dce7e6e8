"""Intake's HTTP API, one router per area: registering and deciding cases (`cases`), the
petitioner registry (`petitioners`), the reference data a registration uses (`reference`:
categories, places, legal channels) and the queue at the centre (`queue`), all in `router`;
and Open311 GeoReport v2 for other systems (`open311.router`). What the routes depend on is
in `deps`; how a case, a person and a ticket are shown, in `views`."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.api import audit, cases, open311, petitioners, queue, reference

router = APIRouter()
"""Every route under /v1."""
for _area in (cases, petitioners, reference, queue, audit):
    router.include_router(_area.router)

__all__ = ["open311", "router"]
