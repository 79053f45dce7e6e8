"""What routing's routes depend on, as typed `Annotated` aliases: the caller, the
application and the trace of the request; and who may do what. Each is `async` though it
never waits, so that resolving it costs no trip through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.routing.application import RoutingApplication
from shared.auth import CurrentActor, Forbidden, require_role
from shared.domain import Actor, Trace
from shared.http import request_trace

SUPERVISING = ("supervisor", "leader", "admin")
READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")
REGISTRY_READING = (*READING, "integration")
"""Who may do what, by role; each route says which of these it requires. Every caller with
a token reads the registry: another system files cases at its places and categories."""


async def application(request: Request) -> RoutingApplication:
    return request.app.state.runtime.application  # type: ignore[no-any-return]


async def trace(request: Request) -> Trace:
    """A change made through the API carries the request's correlation id."""
    return request_trace(request)


def require_handler(actor: Actor) -> None:
    """A handler acts for their department, which their token names."""
    require_role(actor, "handler")
    if not actor.department:
        raise Forbidden("a handler's token names their department (onestop token --department)")


Routing = Annotated[RoutingApplication, Depends(application)]
RequestTrace = Annotated[Trace, Depends(trace)]

__all__ = [
    "READING",
    "REGISTRY_READING",
    "SUPERVISING",
    "CurrentActor",
    "RequestTrace",
    "Routing",
    "require_handler",
]
