"""What routing tells the other services: every hand-off of a case, as a versioned contract."""

from __future__ import annotations

from typing import Any, cast

from services.routing.domain import Assignment
from services.routing.organisation import Organisation
from shared.domain import Actor
from shared.envelope import CloudEvent, from_domain_event
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

PUBLISHED = (":Assignment.", ":Organisation.")
"""Assignments' events, and the registry's (which intake and follow-up replicate); the
catalogue stays inside."""


def publishes(topic: str) -> bool:
    return any(p in topic for p in PUBLISHED)


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


def registry_change(event: Any) -> CloudEvent | None:
    """A change to the registry, for the replicas; keyed by the registry's id, so that all
    of them arrive in order. Events of the three fixed tiers of earlier releases (never
    written now) are not republished."""
    fields = REGISTRY_FIELDS.get(type(event))
    if fields is None:
        return None
    contract_field, event_field = fields
    message = RegistryChanged(
        changed_at=event.timestamp,
        by=event.by,
        **{contract_field: getattr(event, event_field)},
    )
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


def to_cloudevent(event: Any) -> CloudEvent | None:
    if isinstance(event, Organisation.Event):
        return registry_change(event)
    message: Contract
    case_id = str(event.originator_id)
    at = event.timestamp

    if isinstance(event, Assignment.Assigned | Assignment.Dispatched):
        message = CaseAssigned(
            case_id=case_id,
            lead=Department(**event.lead),
            co_handlers=[Department(**d) for d in event.co_handlers],
            rule_id=event.rule_id,
            rule_version=event.rule_version,
            reason=event.reason,
            assigned_at=at,
            trigger=getattr(event, "trigger", "catalogue"),
            transfers=getattr(event, "transfers", 0),
            handled_at=event.handled_at,
        )
    elif isinstance(event, Assignment.QueuedForManualDispatch):
        message = CaseAwaitingManualDispatch(
            case_id=case_id, reason=event.reason, rule_version=event.rule_version, queued_at=at
        )
    elif isinstance(event, Assignment.Accepted | Assignment.HandlerTook):
        message = CaseAnswered(
            case_id=case_id,
            department=Department(**event.department),
            role=cast(Any, event.role),
            answer="accepted" if isinstance(event, Assignment.Accepted) else "taken-over",
            handler=event.handler,
            answered_at=at,
        )
    elif isinstance(event, Assignment.Objected):
        message = CaseAnswered(
            case_id=case_id,
            department=Department(**event.department),
            role=cast(Any, event.role),
            answer="objected",
            reason=event.reason,
            answered_at=at,
        )
    elif isinstance(event, Assignment.ObjectionOverruled):
        message = ObjectionOverruled(
            case_id=case_id,
            department=Department(**event.department),
            reason=event.reason,
            overruled_at=at,
        )
    elif isinstance(event, Assignment.Escalated):
        message = CaseEscalated(
            case_id=case_id,
            level=cast(Any, event.level),
            trigger=cast(Any, event.trigger),
            reason=event.reason,
            escalated_at=at,
        )
    elif isinstance(event, Assignment.LeaderTookCase):
        message = CaseEscalated(
            case_id=case_id,
            level="leader",
            trigger="leader",
            reason=event.note,
            leader=event.leader,
            escalated_at=at,
        )
    elif isinstance(event, Assignment.JointMeetingHeld):
        message = JointMeetingHeld(
            case_id=case_id,
            chair=event.chair,
            departments=event.departments,
            minutes=event.minutes,
            decisions=event.decisions,
            held_at=at,
        )
    elif isinstance(event, Assignment.HandlerRecused):
        message = HandlerRecused(
            case_id=case_id,
            department=Department(**event.department),
            handler=event.handler,
            reason=event.reason,
            recused_at=at,
        )
    elif isinstance(event, Assignment.PartReported):
        message = PartReported(
            case_id=case_id,
            department=Department(**event.department),
            summary=event.summary,
            reported_at=at,
        )
    elif isinstance(event, Assignment.Restricted):
        message = CaseRestricted(case_id=case_id, barred_departments=event.barred, restricted_at=at)
    elif isinstance(event, Assignment.Withdrawn):
        message = AssignmentWithdrawn(case_id=case_id, reason=event.reason, withdrawn_at=at)
    else:
        return None
    return from_domain_event("routing", event, dump(message), message.TYPE)
