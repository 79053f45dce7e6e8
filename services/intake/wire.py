"""What intake tells the other services: its domain events mapped to wire contracts."""

from __future__ import annotations

from typing import Any

from services.intake.domain import Case
from shared.envelope import CloudEvent, from_domain_event
from shared.messages import CaseRegistered, Location, dump


def to_cloudevent(event: Any) -> CloudEvent | None:
    if isinstance(event, Case.Registered):
        message = CaseRegistered(
            case_id=str(event.originator_id),
            channel=event.channel,  # type: ignore[arg-type]
            subject=event.subject,
            description=event.description,
            category=event.category,
            location=Location(**event.location),
            registered_at=event.timestamp,
            first_receiver=event.first_receiver,
        )
        return from_domain_event("intake", event, dump(message), message.TYPE)
    return None
