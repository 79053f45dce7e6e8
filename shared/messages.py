"""The messages the services exchange over Kafka: versioned contracts with a JSON Schema each.

Internal aggregate events never go onto the wire as they are; each service's `wire` module
maps its events to these. A consumer validates every record's `data` against the contract
named by its `type`; what does not fit goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str] = ""  # set on each subclass; the CloudEvent `type`


class Location(BaseModel):
    """A place in the three-tier jurisdiction: district → street/town → community/village."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    district: str
    street: str
    community: str | None = None


Channel = Literal["visit", "letter", "phone", "online", "leader-mailbox", "system"]
LegalClass = Literal["suggestion", "accusation", "claim"]


class CaseRegistered(Contract):
    """Intake registered a case. Carries no personal data: petitioners stay in intake and
    appear only as opaque registry ids."""

    TYPE = "onestop.intake.case.registered.v1"
    case_id: str
    channel: Channel
    subject: str
    description: str
    category: str
    location: Location
    registered_at: datetime
    first_receiver: str = Field(description="Who first received the case (首接负责).")
    legal_class: LegalClass | None = Field(
        default=None, description="Arts. 29–31, when known at registration."
    )
    petitioner_ids: list[str] = Field(
        default=[], description="Opaque registry ids of the petitioner or representatives."
    )
    group_size: int | None = Field(
        default=None, description="Participants of a group petition (集体访), else null."
    )
    notice_required: bool = Field(
        default=True,
        description="Whether the 15-day acceptance notice is owed (not when name or address "
        "is unknown, Art. 23 ¶2).",
    )
    external_system: str | None = Field(
        default=None, description="The government system that pushed the case in, if any."
    )
    repeat_of: list[str] = Field(
        default=[],
        description="Earlier cases the clerk judged alike but distinct, with a reason kept in "
        "intake.",
    )


class CaseClassified(Contract):
    """The case's legal class was set (Arts. 29–31). An accusation names who is accused, so
    that routing never sends it to them (Art. 30)."""

    TYPE = "onestop.intake.case.classified.v1"
    case_id: str
    legal_class: LegalClass
    litigation_related: bool
    accused: str | None = None
    classified_at: datetime


class CaseAcceptanceDecided(Contract):
    """受理 / 不予受理 / 导入法定途径: the centre's decision, which the petitioner is told in
    writing within 15 days of registration (Arts. 22–23)."""

    TYPE = "onestop.intake.case.acceptance-decided.v1"
    case_id: str
    decision: Literal["accept", "decline", "divert"]
    reason: str | None = None
    diverted_to: str | None = Field(
        default=None, description="The legal channel the petitioner is told to use."
    )
    notice_required: bool
    decided_at: datetime


class CaseRepeated(Contract):
    """The same matter came again: linked to this case (no new case), or refused because the
    matter is final after re-review (Art. 36)."""

    TYPE = "onestop.intake.case.repeated.v1"
    case_id: str
    outcome: Literal["linked", "refused"]
    channel: Channel
    repeat_count: int
    petitioner_ids: list[str] = []
    repeated_at: datetime


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    name: str


class CaseAssigned(Contract):
    """Routing chose the lead department (and any co-handlers) by a dispatch rule."""

    TYPE = "onestop.routing.case.assigned.v1"
    case_id: str
    lead: Department
    co_handlers: list[Department] = []
    rule_id: str
    rule_version: str
    reason: str
    assigned_at: datetime


class CaseAwaitingManualDispatch(Contract):
    """No dispatch rule covers the case; it waits in the manual-dispatch queue, not a guess."""

    TYPE = "onestop.routing.case.awaiting-manual-dispatch.v1"
    case_id: str
    reason: str
    rule_version: str
    queued_at: datetime


class ScheduledDeadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    due_at: datetime
    starts_at: datetime
    rule: str
    legal_basis: str


class DeadlinesScheduled(Contract):
    """Follow-up put the case's deadlines on its clock."""

    TYPE = "onestop.followup.deadlines.scheduled.v1"
    case_id: str
    deadlines: list[ScheduledDeadline]


class CaseFinal(Contract):
    """The matter ended after review and re-review (三级终结): the same facts and reasons are
    not accepted again (Art. 36). Intake refuses such repeats."""

    TYPE = "onestop.followup.case.final.v1"
    case_id: str
    summary: str
    final_at: datetime


CONTRACTS: dict[str, type[Contract]] = {
    c.TYPE: c
    for c in (
        CaseRegistered,
        CaseClassified,
        CaseAcceptanceDecided,
        CaseRepeated,
        CaseAssigned,
        CaseAwaitingManualDispatch,
        DeadlinesScheduled,
        CaseFinal,
    )
}


class UnknownMessage(ValueError):
    pass


def parse(type_: str, data: dict[str, Any]) -> Contract:
    """Validate a message's data against its contract; raises ValueError saying what is wrong."""
    contract = CONTRACTS.get(type_)
    if contract is None:
        raise UnknownMessage(f"unknown event type {type_!r}")
    try:
        return contract.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"{type_} does not fit its contract: {problems}") from None


def dump(message: Contract) -> dict[str, Any]:
    return message.model_dump(mode="json")


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every contract's JSON Schema, keyed by event type (published under docs/schemas)."""
    return {t: c.model_json_schema() for t, c in CONTRACTS.items()}


def write_schemas(folder: str) -> list[str]:
    """Write each contract's JSON Schema to `<folder>/<type>.json` (`python -m shared.messages`)."""
    import json
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for type_, schema in json_schemas().items():
        path = out / f"{type_}.json"
        path.write_text(json.dumps({"$id": type_, **schema}, indent=2, ensure_ascii=False) + "\n")
        written.append(str(path))
    return written


if __name__ == "__main__":
    print("\n".join(write_schemas("docs/schemas")))
