"""What follow-up tells the other services: the deadlines it put on a case's clock."""

from __future__ import annotations

from typing import Any

from services.followup.domain import FollowUpCase
from shared.envelope import CloudEvent, from_domain_event
from shared.messages import DeadlinesScheduled, ScheduledDeadline, dump


def to_cloudevent(event: Any) -> CloudEvent | None:
    if isinstance(event, FollowUpCase.DeadlinesScheduled):
        message = DeadlinesScheduled(
            case_id=str(event.originator_id),
            deadlines=[ScheduledDeadline(**d) for d in event.deadlines],
        )
        return from_domain_event("followup", event, dump(message), message.TYPE)
    return None
