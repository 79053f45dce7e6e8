"""What people ask intake to do, one small typed object per action: built once by whoever
took the request (the API, the Open311 adapter, the CLI) and handled by
`IntakeApplication`, which checks it against the domain's rules."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from services.intake.domain import (
    AcceptanceDecision,
    DuplicateDecision,
    ErasureBasis,
    ExternalReference,
    GroupPetition,
    Whereabouts,
)
from services.intake.queue import TicketState
from shared.vocabulary import Channel, LegalClass


@dataclass(frozen=True)
class PersonGiven:
    """A petitioner as the sender gave them, before their details are checked
    (`PersonDetails.of`)."""

    name: str
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class RegisterCase:
    """Register what arrived at the door, from any channel: a new case, or a repeat of an
    earlier one. `petitioners` are the petitioner, or a group's representatives;
    `fingerprint` is the submission's content, to tell a retry from a different submission
    under the same idempotency key or external reference."""

    channel: Channel
    subject: str
    description: str
    category: str
    location: Whereabouts
    petitioners: tuple[PersonGiven, ...] = ()
    group: GroupPetition | None = None
    legal_class: LegalClass | None = None
    addressed_to: str | None = None
    external: ExternalReference | None = None
    idempotency_key: str | None = None
    duplicate_decision: DuplicateDecision | None = None
    fingerprint: str | None = None
    media_url: str | None = None
    """A link to a photo or video of the matter (Open311), checked by `check_media_url`."""


@dataclass(frozen=True)
class Classify:
    """Sort a case by law; `accused` for an accusation only."""

    case_id: UUID
    legal_class: LegalClass
    litigation_related: bool = False
    accused: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class DecideAcceptance:
    """Accept a case, decline it, or divert it to a legal channel."""

    case_id: UUID
    decision: AcceptanceDecision


@dataclass(frozen=True)
class IssueTicket:
    """A visitor takes a ticket for a line."""

    line: str


@dataclass(frozen=True)
class CallNext:
    """A window calls its next visitor; the one it served is done."""

    window: str


@dataclass(frozen=True)
class TransferTicket:
    """The visitor at a window is sent to another, and why."""

    number: str
    to_window: str
    reason: str


@dataclass(frozen=True)
class FinishTicket:
    """The visitor was served (perhaps with a case registered), or did not come."""

    number: str
    outcome: TicketState
    case_id: UUID | None = None


@dataclass(frozen=True)
class IssueApiKey:
    """A key for another system to file Open311 requests with."""

    name: str


@dataclass(frozen=True)
class RevokeApiKey:
    name: str


@dataclass(frozen=True)
class ErasePetitioner:
    """Erase a petitioner's personal data, on this basis, answering this request."""

    petitioner_id: UUID
    basis: ErasureBasis
    reference: str | None = None
