"""What people ask routing to do with a case, one command per action: built once by the API
(or a test, or a script), handled by `RoutingApplication`, which loads the assignment,
changes it and saves it. Each names the case, who asks and the conversation it is part of.

Departments are named by code, as the caller named them: the application looks them up in
the registry, refusing an unknown one by the command's field that named it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from services.routing.domain import ReviewOutcome
from shared.domain import Actor, Trace


@dataclass(frozen=True, kw_only=True)
class CaseCommand:
    case_id: UUID
    actor: Actor
    trace: Trace


@dataclass(frozen=True, kw_only=True)
class AcceptAssignment(CaseCommand):
    """The actor's department takes its part; the actor becomes its handler."""


@dataclass(frozen=True, kw_only=True)
class ObjectToAssignment(CaseCommand):
    """The actor's department says the case is outside its remit, within the window."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class ReviewObjection(CaseCommand):
    """The supervision office settles `department`'s objection. To reroute, `lead` names
    the new lead; without one, the catalogue chooses without the objectors."""

    department: str
    outcome: ReviewOutcome
    reason: str
    lead: str | None = None
    co_handlers: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DispatchByHand(CaseCommand):
    """The supervision office chooses the departments: from the manual-dispatch queue, or
    to correct a routing."""

    lead: str
    co_handlers: tuple[str, ...] = ()
    reason: str


@dataclass(frozen=True, kw_only=True)
class Escalate(CaseCommand):
    """Up one rung of the ladder, on request."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class HoldJointMeeting(CaseCommand):
    """Record a joint meeting; if it decided who leads (`lead`), that binds."""

    chair: str
    departments: tuple[str, ...]
    minutes: str
    decisions: tuple[str, ...]
    lead: str | None = None
    co_handlers: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TakePersonally(CaseCommand):
    """The actor, a leader, takes the case."""

    note: str


@dataclass(frozen=True, kw_only=True)
class Recuse(CaseCommand):
    """The actor, the case's handler in their department, declares a conflict of interest."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class TakeOver(CaseCommand):
    """Another handler of the department takes the case after a recusal."""


@dataclass(frozen=True, kw_only=True)
class ReportPart(CaseCommand):
    """The actor's department, a co-handler, reports its part to the lead."""

    summary: str
