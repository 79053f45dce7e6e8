"""What intake tells the other services: its domain events mapped to wire contracts.

Personal data never leaves intake: petitioners travel as opaque registry ids. Events that
only matter inside intake (progress it was told, petitioner details, keys, the queue) stay
here.
"""

from __future__ import annotations

from typing import Any

from services.intake.domain import Case, notice_owed
from shared.envelope import CloudEvent, from_domain_event
from shared.messages import (
    CaseAcceptanceDecided,
    CaseClassified,
    CaseRegistered,
    CaseRepeated,
    Contract,
    Location,
    dump,
)


def _message(event: Any) -> Contract | None:
    case_id = str(event.originator_id)
    if isinstance(event, Case.Registered):
        review = event.duplicate_review or {}
        return CaseRegistered(
            case_id=case_id,
            channel=event.channel,  # type: ignore[arg-type]
            subject=event.subject,
            description=event.description,
            category=event.category,
            location=Location(
                place=event.location.place,
                path=list(event.location.path),
            ),
            registered_at=event.timestamp,
            first_receiver=event.first_receiver,
            legal_class=event.legal_class,  # type: ignore[arg-type]
            petitioner_ids=[
                p["petitioner_id"] for p in event.petitioners if p.get("petitioner_id")
            ],
            group_size=(event.group or {}).get("participant_count"),
            notice_required=notice_owed(event.petitioners),
            external_system=(event.external or {}).get("system"),
            repeat_of=review.get("candidates", []) if review.get("decision") == "new" else [],
            lookup_code_hash=event.lookup_code_hash,
        )
    if isinstance(event, Case.Classified):
        return CaseClassified(
            case_id=case_id,
            legal_class=event.legal_class,  # type: ignore[arg-type]
            litigation_related=event.litigation_related,
            accused=event.accused,
            classified_at=event.timestamp,
        )
    if isinstance(event, Case.AcceptanceDecided):
        return CaseAcceptanceDecided(
            case_id=case_id,
            decision=event.decision,  # type: ignore[arg-type]
            reason=event.reason,
            diverted_to=event.diverted_to,
            notice_required=event.notice_required,
            decided_at=event.timestamp,
        )
    if isinstance(event, Case.RepeatLinked | Case.RepeatRefused):
        return CaseRepeated(
            case_id=case_id,
            outcome="linked" if isinstance(event, Case.RepeatLinked) else "refused",
            channel=event.channel,  # type: ignore[arg-type]
            repeat_count=event.repeat_number,
            petitioner_ids=event.petitioner_ids,
            repeated_at=event.timestamp,
        )
    return None


PUBLISHED = tuple(
    f"{Case.__module__}:{c.__qualname__}"
    for c in (
        Case.Registered,
        Case.Classified,
        Case.AcceptanceDecided,
        Case.RepeatLinked,
        Case.RepeatRefused,
    )
)


def publishes(topic: str) -> bool:
    """Only these stored events go on the wire; the relay skips the rest undecrypted."""
    return topic in PUBLISHED


def to_cloudevent(event: Any) -> CloudEvent | None:
    message = _message(event)
    if message is None:
        return None
    return from_domain_event("intake", event, dump(message), message.TYPE)
