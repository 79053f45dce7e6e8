"""What follow-up's routes depend on, as typed `Annotated` aliases: the caller, the
application, the settings and the trace of the request. Each is `async` though it never
waits, so that resolving it costs no trip through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.followup.application import FollowUpApplication
from shared.auth import CurrentActor
from shared.domain import Trace
from shared.http import request_trace
from shared.settings import Settings

STAFF = ("clerk", "handler", "supervisor", "leader", "admin")
HANDLING = ("handler", "supervisor", "leader")
SUPERVISING = ("supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")
VISITING = ("clerk", "handler", "supervisor", "leader")
"""Who may do what, by role; each route says which of these it requires (a handler, for
its own department's cases: the domain checks that)."""


async def application(request: Request) -> FollowUpApplication:
    return request.app.state.runtime.application


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def trace(request: Request) -> Trace:
    """A change made through the API carries the request's correlation id."""
    return request_trace(request)


FollowUp = Annotated[FollowUpApplication, Depends(application)]
SettingsDep = Annotated[Settings, Depends(settings)]
RequestTrace = Annotated[Trace, Depends(trace)]

__all__ = [
    "HANDLING",
    "READING",
    "STAFF",
    "SUPERVISING",
    "VISITING",
    "CurrentActor",
    "FollowUp",
    "RequestTrace",
    "SettingsDep",
]
