"""What callers see of a case, a person and a ticket: the domain's values as JSON, built
here and nowhere else."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain import Case, PersonShown
from services.intake.queue import Figures, Layout, Ticket
from shared.policy import Sight
from shared.territory import Location, Territory
from shared.vocabulary import Channel


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseView(BaseModel):
    case_id: UUID
    status: str
    channel: Channel
    petitioners: list[dict[str, Any]]
    group: dict[str, Any] | None
    subject: str
    description: str
    category: str
    location: dict[str, Any] = Field(
        description="The place, its path of places from the top tier, and their names"
    )
    legal_class: str | None
    litigation_related: bool
    accused: str | None
    addressed_to: str | None
    external: dict[str, Any] | None
    acceptance: dict[str, Any] | None
    notice_required: bool
    duplicate_review: dict[str, Any] | None
    repeat_count: int
    progress: dict[str, Any] | None
    first_receiver: str
    registered_by: dict[str, Any]
    registered_at: datetime
    updated_at: datetime | None
    version: int
    case_code: str | None = Field(
        default=None,
        description="The petitioner's case code, for printing their slip again: shown only "
        "to those who see the case's personal data (one case, not a listing)",
    )


def location_view(location: Location, territory: Territory) -> dict[str, Any]:
    return {**location.as_dict(), "label": territory.place_label(location)}


def person_view(shown: PersonShown, petitioner_id: str | None = None) -> dict[str, Any]:
    """A person as shown to the caller (masked or not), with their registry id if known."""
    details = shown.details
    seen: dict[str, Any] = {
        "name": details.name,
        "id_number": details.id_number,
        "phone": details.phone,
        "address": details.address,
    }
    if petitioner_id:
        seen["petitioner_id"] = petitioner_id
    return {**seen, "masked": shown.masked}


def progress_view(case: Case) -> dict[str, Any] | None:
    progress = case.progress
    if progress is None:
        return None
    return {"stage": progress.stage.value, "summary": progress.summary, "at": progress.at}


def acceptance_view(case: Case) -> dict[str, Any] | None:
    acceptance = case.acceptance
    if acceptance is None:
        return None
    decided = acceptance.decision
    return {
        "decision": decided.decision.value,
        "reason": decided.reason,
        "diverted_to": decided.diverted_to.value if decided.diverted_to else None,
        "notice_required": acceptance.notice_required,
        "decided_at": acceptance.decided_at,
        "decided_by": acceptance.decided_by.as_dict(),
    }


def review_view(case: Case) -> dict[str, Any] | None:
    review = case.duplicate_review
    if review is None:
        return None
    return {
        "candidates": list(review.candidates),
        "decision": review.decision.value,
        "reason": review.reason,
        "new_facts": review.new_facts,
    }


def case_view(
    case: Case, seen: Sight, territory: Territory, case_code: str | None = None
) -> CaseView:
    """The case as someone who sees this much of it may: its petitioners unmasked only for
    those who need to know (`shared.policy`), and the case code only to them."""
    return CaseView(
        case_id=case.id,
        status=case.status.value,
        channel=case.channel,
        petitioners=[
            person_view(shown, p.petitioner_id) for p, shown in case.petitioners_for(seen)
        ],
        group=asdict(case.group) if case.group else None,
        subject=case.subject,
        description=case.description,
        category=case.category,
        location=location_view(case.location, territory),
        legal_class=case.legal_class.value if case.legal_class else None,
        litigation_related=case.litigation_related,
        accused=case.accused,
        addressed_to=case.addressed_to,
        external=asdict(case.external) if case.external else None,
        acceptance=acceptance_view(case),
        notice_required=case.notice_required,
        duplicate_review=review_view(case),
        repeat_count=case.repeat_count,
        progress=progress_view(case),
        first_receiver=case.first_receiver,
        registered_by=case.registered_by.as_dict(),
        registered_at=case.created_on,
        updated_at=case.updated_at,
        version=case.version,
        case_code=case_code if seen is Sight.FULL else None,
    )


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "line": ticket.line,
        "issued_at": ticket.issued_at,
        "state": ticket.state.value,
        "window": ticket.window,
        "for_window": ticket.for_window,
        "first_called_at": ticket.first_called_at,
        "called_at": ticket.called_at,
        "finished_at": ticket.finished_at,
        "case_id": ticket.case_id,
        "transfers": [
            {"from": t.from_window, "to": t.to_window, "reason": t.reason} for t in ticket.transfers
        ],
    }


def figures_view(figures: Figures) -> dict[str, Any]:
    return asdict(figures)


def windows_view(layout: Layout) -> dict[str, dict[str, list[str]]]:
    return {
        code: {"departments": list(w.departments), "lines": list(w.lines)}
        for code, w in layout.windows.items()
    }
