"""What routing tells the other services: every hand-off of a case, as a versioned contract."""

from __future__ import annotations

from typing import Any, cast

from services.routing.domain import Assignment
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
    dump,
)

PUBLISHED = ":Assignment."
"""Only assignments' events go on the wire; the registry and catalogue stay inside."""


def publishes(topic: str) -> bool:
    return PUBLISHED in topic


def to_cloudevent(event: Any) -> CloudEvent | None:
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
