"""What intake tells the other services: its domain events mapped to wire contracts.

Personal data never leaves intake: petitioners travel as opaque registry ids. Events that
only matter inside intake (progress it was told, petitioner details, keys, the queue) stay
here.
"""

from __future__ import annotations

from typing import Literal

from services.intake.domain import ApiKeys, Case, Petitioner, notice_owed
from services.intake.queue import QueueDay, QueueLayout
from shared.messages import (
    CaseAcceptanceDecided,
    CaseClassified,
    CaseRegistered,
    CaseRepeated,
    Contract,
    Location,
    PetitionerErased,
)
from shared.registry import REPLICA_EVENTS
from shared.scrub import scrub
from shared.wiring import Wire

WIRE = Wire("intake")
WIRE.internal(
    Case.ProgressNoted,
    Case.HandlersNoted,
    Case.RestrictionNoted,
    Petitioner.Registered,
    Petitioner.DetailsUpdated,
    Petitioner.CaseAdded,
    Petitioner.Erased,
    ApiKeys.Started,
    ApiKeys.Issued,
    ApiKeys.Revoked,
    QueueLayout.Started,
    QueueLayout.LineDefined,
    QueueLayout.WindowDefined,
    QueueDay.Opened,
    QueueDay.TicketIssued,
    QueueDay.TicketCalled,
    QueueDay.TicketTransferred,
    QueueDay.TicketFinished,
    *REPLICA_EVENTS,
)


@WIRE.maps(Case.Registered)
def _registered(event: Case.Registered) -> Contract:
    """The registration, its free text scrubbed of personal data (`shared.scrub`): the
    petitioners stay in intake."""
    review = event.duplicate_review
    names = [p.details.name for p in event.petitioners]
    return CaseRegistered(
        case_id=str(event.originator_id),
        channel=event.channel,
        subject=scrub(event.subject, names),
        description=scrub(event.description, names),
        category=event.category,
        location=Location(place=event.location.place, path=list(event.location.path)),
        registered_at=event.timestamp,
        first_receiver=event.first_receiver,
        legal_class=event.legal_class,
        petitioner_ids=[p.petitioner_id for p in event.petitioners if p.petitioner_id],
        group_size=event.group.participant_count if event.group else None,
        notice_required=notice_owed(p.details for p in event.petitioners),
        external_system=event.external.system if event.external else None,
        repeat_of=list(review.repeat_of) if review else [],
        lookup_code_hash=event.lookup_code_hash,
    )


@WIRE.maps(Case.Classified)
def _classified(event: Case.Classified) -> Contract:
    return CaseClassified(
        case_id=str(event.originator_id),
        legal_class=event.legal_class,
        litigation_related=event.litigation_related,
        accused=event.accused,
        classified_at=event.timestamp,
    )


@WIRE.maps(Case.AcceptanceDecided)
def _acceptance_decided(event: Case.AcceptanceDecided) -> Contract:
    return CaseAcceptanceDecided(
        case_id=str(event.originator_id),
        decision=event.decision.value,
        reason=event.reason,
        diverted_to=event.diverted_to.value if event.diverted_to else None,
        notice_required=event.notice_required,
        decided_at=event.timestamp,
    )


def _repeated(
    event: Case.RepeatLinked | Case.RepeatRefused, outcome: Literal["linked", "refused"]
) -> Contract:
    return CaseRepeated(
        case_id=str(event.originator_id),
        outcome=outcome,
        channel=event.channel,
        repeat_count=event.repeat_number,
        petitioner_ids=event.petitioner_ids,
        repeated_at=event.timestamp,
    )


@WIRE.maps(Case.RepeatLinked)
def _repeat_linked(event: Case.RepeatLinked) -> Contract:
    return _repeated(event, "linked")


@WIRE.maps(Case.RepeatRefused)
def _repeat_refused(event: Case.RepeatRefused) -> Contract:
    return _repeated(event, "refused")


@WIRE.maps(Case.PetitionerErased)
def _erased(event: Case.PetitionerErased) -> Contract:
    return PetitionerErased(
        case_id=str(event.originator_id),
        petitioner_id=event.subject,
        basis=event.basis.value,
        reference=event.reference,
        erased_at=event.timestamp,
    )


to_cloudevent = WIRE.to_cloudevent
publishes = WIRE.publishes
"""Only mapped stored events go on the wire; the relay skips the rest undecrypted."""
