"""What routing's routes depend on, as typed `Annotated` aliases: the caller, the
application and the trace of the request; and who may do what. Each is `async` though it
never waits, so that resolving it costs no trip through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.routing.application import RoutingApplication
from shared.auth import CurrentActor
from shared.domain import Trace
from shared.http import request_trace

SUPERVISING = ("supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")
REGISTRY_READING = (*READING, "integration")


async def application(request: Request) -> RoutingApplication:
    return request.app.state.runtime.application


async def trace(request: Request) -> Trace:
    """A change made through the API carries the request's correlation id."""
    return request_trace(request)


Routing = Annotated[RoutingApplication, Depends(application)]
RequestTrace = Annotated[Trace, Depends(trace)]

__all__ = [
    "READING",
    "REGISTRY_READING",
    "SUPERVISING",
    "CurrentActor",
    "RequestTrace",
    "Routing",
]
