"""What intake's routes depend on, as typed `Annotated` aliases: the caller, the
application, the settings and the trace of the request. Each is `async` though it never
waits, so that resolving it costs no trip through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.application import IntakeApplication
from shared.auth import CurrentActor
from shared.domain import Trace
from shared.http import request_trace
from shared.settings import Settings

REGISTERING = ("clerk", "admin", "integration")
DECIDING = ("clerk", "supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin", "integration")
STAFF_READING = READING[:-1]
QUEUE = ("clerk", "handler", "admin")
"""Who may do what, by role; each route says which of these it requires."""


async def application(request: Request) -> IntakeApplication:
    return request.app.state.runtime.application


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def trace(request: Request) -> Trace:
    """A change made through the API carries the request's correlation id."""
    return request_trace(request)


Intake = Annotated[IntakeApplication, Depends(application)]
SettingsDep = Annotated[Settings, Depends(settings)]
RequestTrace = Annotated[Trace, Depends(trace)]

__all__ = [
    "DECIDING",
    "QUEUE",
    "READING",
    "REGISTERING",
    "STAFF_READING",
    "CurrentActor",
    "Intake",
    "RequestTrace",
    "SettingsDep",
]
