"""What routing tells the other services: assignments and manual-dispatch queueing."""

from __future__ import annotations

from typing import Any

from services.routing.domain import Assignment
from shared.envelope import CloudEvent, from_domain_event
from shared.messages import CaseAssigned, CaseAwaitingManualDispatch, Contract, Department, dump


def to_cloudevent(event: Any) -> CloudEvent | None:
    message: Contract
    case_id = str(event.originator_id)
    if isinstance(event, Assignment.Assigned):
        message = CaseAssigned(
            case_id=case_id,
            lead=Department(**event.lead),
            co_handlers=[Department(**d) for d in event.co_handlers],
            rule_id=event.rule_id,
            rule_version=event.rule_version,
            reason=event.reason,
            assigned_at=event.timestamp,
        )
    elif isinstance(event, Assignment.QueuedForManualDispatch):
        message = CaseAwaitingManualDispatch(
            case_id=case_id,
            reason=event.reason,
            rule_version=event.rule_version,
            queued_at=event.timestamp,
        )
    else:
        return None
    return from_domain_event("routing", event, dump(message), message.TYPE)
