"""Routing's HTTP API, one router per area: a case's assignment and its hand-offs
(`assignments`), department inboxes and the manual-dispatch queue (`inbox`), and the
registry of the territory with the dispatch catalogue (`registry`). What the routes depend
on is in `deps`."""

from __future__ import annotations

from fastapi import APIRouter

from services.routing.api import assignments, inbox, registry

router = APIRouter()
"""Every route, under /v1."""
for _area in (assignments, inbox, registry):
    router.include_router(_area.router)

__all__ = ["router"]
