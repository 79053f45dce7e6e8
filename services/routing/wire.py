"""What routing tells the other services: every hand-off of a case, and every change to the
registry of the territory (which intake and follow-up replicate), as versioned contracts.

The catalogue and the calendar stay inside, and so does a case's legal class (intake and
follow-up published those already).
"""

from __future__ import annotations

from typing import Any

from services.routing.calendar import PublishedCalendar
from services.routing.domain import Assignment as A
from services.routing.domain import DepartmentRef
from services.routing.organisation import DispatchCatalogue, Organisation
from shared.domain import Actor
from shared.envelope import CloudEvent
from shared.messages import (
    AssignmentWithdrawn,
    CaseAnswered,
    CaseAssigned,
    CaseAwaitingManualDispatch,
    CaseEscalated,
    CaseRestricted,
    Contract,
    Department,
    HandlerRecused,
    JointMeetingHeld,
    ObjectionOverruled,
    PartReported,
    RegistryChanged,
    dump,
)
from shared.wiring import Wire

WIRE = Wire("routing")
WIRE.internal(
    A.LegalClassNoted,
    Organisation.Started,
    Organisation.JurisdictionDefined,  # the fixed tiers of earlier releases: never written now
    DispatchCatalogue.Started,
    DispatchCatalogue.Published,
    PublishedCalendar.Started,
    PublishedCalendar.YearHeard,
)


# The contracts spell routing's words (roles, levels, triggers) as Literals, for their JSON
# Schema; each StrEnum of the domain is its value there, which is why `Any` is passed.


def _department(ref: DepartmentRef) -> Department:
    return Department(code=ref.code, name=ref.name)


def _assigned(event: A.Assigned | A.Dispatched, trigger: Any, transfers: int) -> Contract:
    return CaseAssigned(
        case_id=str(event.originator_id),
        lead=_department(event.lead),
        co_handlers=[_department(d) for d in event.co_handlers],
        rule_id=event.rule_id,
        rule_version=event.rule_version,
        reason=event.reason,
        assigned_at=event.timestamp,
        trigger=trigger,
        transfers=transfers,
        handled_at=event.handled_at,
    )


@WIRE.maps(A.Assigned)
def _by_catalogue(event: A.Assigned) -> Contract:
    return _assigned(event, "catalogue", 0)


@WIRE.maps(A.Dispatched)
def _dispatched(event: A.Dispatched) -> Contract:
    return _assigned(event, event.trigger, event.transfers)


@WIRE.maps(A.QueuedForManualDispatch)
def _queued(event: A.QueuedForManualDispatch) -> Contract:
    return CaseAwaitingManualDispatch(
        case_id=str(event.originator_id),
        reason=event.reason,
        rule_version=event.rule_version,
        queued_at=event.timestamp,
    )


def _answered(
    event: A.Accepted | A.HandlerTook | A.Objected, answer: Any, **detail: Any
) -> Contract:
    role: Any = event.role
    return CaseAnswered(
        case_id=str(event.originator_id),
        department=_department(event.department),
        role=role,
        answer=answer,
        answered_at=event.timestamp,
        **detail,
    )


@WIRE.maps(A.Accepted)
def _accepted(event: A.Accepted) -> Contract:
    return _answered(event, "accepted", handler=event.handler)


@WIRE.maps(A.HandlerTook)
def _taken_over(event: A.HandlerTook) -> Contract:
    return _answered(event, "taken-over", handler=event.handler)


@WIRE.maps(A.Objected)
def _objected(event: A.Objected) -> Contract:
    return _answered(event, "objected", reason=event.reason)


@WIRE.maps(A.ObjectionOverruled)
def _overruled(event: A.ObjectionOverruled) -> Contract:
    return ObjectionOverruled(
        case_id=str(event.originator_id),
        department=_department(event.department),
        reason=event.reason,
        overruled_at=event.timestamp,
    )


@WIRE.maps(A.Escalated)
def _escalated(event: A.Escalated) -> Contract:
    level: Any = event.level
    trigger: Any = event.trigger
    return CaseEscalated(
        case_id=str(event.originator_id),
        level=level,
        trigger=trigger,
        reason=event.reason,
        escalated_at=event.timestamp,
    )


@WIRE.maps(A.LeaderTookCase)
def _leader(event: A.LeaderTookCase) -> Contract:
    return CaseEscalated(
        case_id=str(event.originator_id),
        level="leader",
        trigger="leader",
        reason=event.note,
        leader=event.leader,
        escalated_at=event.timestamp,
    )


@WIRE.maps(A.JointMeetingHeld)
def _joint_meeting(event: A.JointMeetingHeld) -> Contract:
    return JointMeetingHeld(
        case_id=str(event.originator_id),
        chair=event.chair,
        departments=list(event.departments),
        minutes=event.minutes,
        decisions=list(event.decisions),
        held_at=event.timestamp,
    )


@WIRE.maps(A.HandlerRecused)
def _recused(event: A.HandlerRecused) -> Contract:
    return HandlerRecused(
        case_id=str(event.originator_id),
        department=_department(event.department),
        handler=event.handler,
        reason=event.reason,
        recused_at=event.timestamp,
    )


@WIRE.maps(A.PartReported)
def _part(event: A.PartReported) -> Contract:
    return PartReported(
        case_id=str(event.originator_id),
        department=_department(event.department),
        summary=event.summary,
        reported_at=event.timestamp,
    )


@WIRE.maps(A.Restricted)
def _restricted(event: A.Restricted) -> Contract:
    return CaseRestricted(
        case_id=str(event.originator_id),
        barred_departments=list(event.barred),
        restricted_at=event.timestamp,
    )


@WIRE.maps(A.Withdrawn)
def _withdrawn(event: A.Withdrawn) -> Contract:
    return AssignmentWithdrawn(
        case_id=str(event.originator_id), reason=event.reason, withdrawn_at=event.timestamp
    )


REGISTRY_FIELDS = {
    Organisation.CentreNamed: ("centre", "name"),
    Organisation.LayoutDefined: ("layout", "layout"),
    Organisation.PlaceDefined: ("place", "place"),
    Organisation.DepartmentDefined: ("department", "department"),
    Organisation.LineDefined: ("line", "line"),
    Organisation.WindowDefined: ("window", "window"),
    Organisation.CategoryDefined: ("category", "category"),
    Organisation.StatisticsDefined: ("statistics", "statistics"),
}
"""Each registry event, and the field of `RegistryChanged` that carries what it defined."""


@WIRE.maps(*REGISTRY_FIELDS)
def _registry_changed(event: Organisation.Event) -> Contract:
    contract_field, event_field = REGISTRY_FIELDS[type(event)]
    return RegistryChanged(
        changed_at=event.timestamp,
        by=event.by,  # type: ignore[attr-defined]
        **{contract_field: getattr(event, event_field)},
    )


def to_cloudevent(event: Any) -> CloudEvent | None:
    """A case's events carry who acted and why (`from_domain_event`); the registry's carry
    the admin who changed it, and are keyed by the registry's id so they arrive in order."""
    if type(event) not in REGISTRY_FIELDS:
        return WIRE.to_cloudevent(event)
    message = WIRE.message(event)
    assert message is not None
    event_id = f"routing:{event.originator_id}:{event.originator_version}"
    return CloudEvent(
        id=event_id,
        source="/onestop/routing",
        type=message.TYPE,
        subject=str(event.originator_id),
        time=event.timestamp,
        data=dump(message),
        actor=Actor(user=event.by, role="admin"),
        correlation_id=event_id,
        dataschema=f"https://onestop.example/schemas/{message.TYPE}.json",
    )


publishes = WIRE.publishes
