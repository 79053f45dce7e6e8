"""The messages the services exchange over Kafka: versioned contracts with a JSON Schema each.

Internal aggregate events never go onto the wire as they are; each service's `wire` module
maps its events to these. A consumer validates every record's `data` against the contract
named by its `type`; what does not fit goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from shared.territory import (
    CODE_PATTERN,
    Category,
    HandlingPlace,
    Layout,
    Line,
    Place,
    Statistics,
    Window,
)
from shared.territory import (
    Department as RegisteredDepartment,
)
from shared.vocabulary import Channel, LegalClass

_D = TypeVar("_D", date, datetime)


ERA = (1900, 2999)
"""The years a moment or a day on the wire may fall in. A deadline is counted from a
moment, and a year 9999 overflowed the count in the consumer: a record then stayed on its
partition, in the way of everything behind it."""


def _in_era(value: _D) -> _D:
    if not ERA[0] <= value.year <= ERA[1]:
        raise ValueError(f"must fall between the years {ERA[0]} and {ERA[1]}")
    return value


Moment = Annotated[
    AwareDatetime,
    AfterValidator(_in_era),
    Field(description=f"With its offset from UTC; in the years {ERA[0]}–{ERA[1]}."),
]
"""A moment with its offset from UTC (a time without one means nothing on the wire)."""
Day = Annotated[
    date, AfterValidator(_in_era), Field(description=f"In the years {ERA[0]}–{ERA[1]}.")
]


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str] = ""  # set on each subclass; the CloudEvent `type`


class LegacyLocation(BaseModel):
    """A place in the three fixed tiers of version 1: district → street/town → community."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    district: str
    street: str
    community: str | None = None


class Location(BaseModel):
    """A place of the centre's territory (routing's registry) and its path of place codes
    from the top tier, as registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    place: str
    path: list[str] = Field(min_length=1, description="Place codes, top tier first.")


class CaseRegisteredV1(Contract):
    """Version 1 of `CaseRegistered`, when a location had three fixed tiers; read as the
    current version (see `upgrade`)."""

    TYPE = "onestop.intake.case.registered.v1"
    case_id: str
    channel: Channel
    subject: str
    description: str
    category: str
    location: LegacyLocation
    registered_at: Moment
    first_receiver: str
    legal_class: LegalClass | None = None
    petitioner_ids: list[str] = []
    group_size: int | None = None
    notice_required: bool = True
    external_system: str | None = None
    lookup_code_hash: str | None = None
    repeat_of: list[str] = []

    def upgrade(self) -> CaseRegistered:
        old = self.location
        path = [p for p in (old.district, old.street, old.community) if p]
        data = self.model_dump(exclude={"location"})
        return CaseRegistered(**data, location=Location(place=path[-1], path=path))


class CaseRegistered(Contract):
    """Intake registered a case. Carries no personal data: petitioners stay in intake and
    appear only as opaque registry ids."""

    TYPE = "onestop.intake.case.registered.v2"
    case_id: str
    channel: Channel
    subject: str
    description: str
    category: str
    location: Location
    registered_at: Moment
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
    lookup_code_hash: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the case code the petitioner was given to look up "
        "progress and rate the handling without logging in; the code itself is never stored.",
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
    classified_at: Moment


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
    decided_at: Moment


class CaseRepeated(Contract):
    """The same matter came again: linked to this case (no new case), or refused because the
    matter is final after re-review (Art. 36)."""

    TYPE = "onestop.intake.case.repeated.v1"
    case_id: str
    outcome: Literal["linked", "refused"]
    channel: Channel
    repeat_count: int
    petitioner_ids: list[str] = []
    repeated_at: Moment


Code = Annotated[str, Field(pattern=CODE_PATTERN)]
"""A department's code as the registry allows it: a record naming one otherwise (a forged
one) is refused, never kept (a code is also a key of what follow-up stores)."""


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Code
    name: str


class CaseAssigned(Contract):
    """Routing chose the lead department (and any co-handlers): by a dispatch rule when the
    case arrived, or again later — by hand, after an objection, by a joint meeting, or away
    from an accused unit (`trigger`)."""

    TYPE = "onestop.routing.case.assigned.v1"
    case_id: str
    lead: Department
    co_handlers: list[Department] = []
    rule_id: str | None = Field(description="The catalogue rule, or null when chosen by hand.")
    rule_version: str
    reason: str
    assigned_at: Moment
    trigger: Literal[
        "catalogue",
        "manual-dispatch",
        "objection",
        "joint-meeting",
        "confidentiality",
        "reclassified",
    ] = "catalogue"
    transfers: int = Field(default=0, description="How often the lead has changed so far.")
    handled_at: HandlingPlace | None = Field(
        default=None,
        description="Where the matter is handled: the place (and grid level) of the rule that "
        "chose the departments, or of the lead chosen by hand.",
    )


class CaseAnswered(Contract):
    """A department answered its assignment: accepted it, objected to it within 5 working
    days with reasons (Art. 23 ¶3), or a new handler took it over after a recusal."""

    TYPE = "onestop.routing.case.answered.v1"
    case_id: str
    department: Department
    role: Literal["lead", "co-handler"]
    answer: Literal["accepted", "objected", "taken-over"]
    reason: str | None = None
    handler: str | None = None
    answered_at: Moment


class ObjectionOverruled(Contract):
    """An objection was reviewed and rejected: the department handles its part."""

    TYPE = "onestop.routing.case.objection-overruled.v1"
    case_id: str
    department: Department
    reason: str
    overruled_at: Moment


class CaseEscalated(Contract):
    """The case climbed the ladder: window → joint meeting (联席会议) → leader (包案)."""

    TYPE = "onestop.routing.case.escalated.v1"
    case_id: str
    level: Literal["joint-meeting", "leader"]
    trigger: Literal[
        "request", "objection-dispute", "ping-pong", "overdue", "repeat", "group", "leader"
    ]
    reason: str
    leader: str | None = Field(default=None, description="Who took the case, at `leader`.")
    escalated_at: Moment


class JointMeetingHeld(Contract):
    """Several departments met on the case; the minutes and decisions are recorded."""

    TYPE = "onestop.routing.case.joint-meeting-held.v1"
    case_id: str
    chair: str
    departments: list[str]
    minutes: str
    decisions: list[str]
    held_at: Moment


class HandlerRecused(Contract):
    """A handler declared a conflict of interest and was replaced (Art. 28)."""

    TYPE = "onestop.routing.case.handler-recused.v1"
    case_id: str
    department: Department
    handler: str
    reason: str
    recused_at: Moment


class PartReported(Contract):
    """A co-handling department reported its part back to the lead (首接负责)."""

    TYPE = "onestop.routing.case.part-reported.v1"
    case_id: str
    department: Department
    summary: str
    reported_at: Moment


class CaseRestricted(Contract):
    """An accusation: the named units never receive or read the case (Art. 30)."""

    TYPE = "onestop.routing.case.restricted.v1"
    case_id: str
    barred_departments: list[str]
    restricted_at: Moment


class AssignmentWithdrawn(Contract):
    """The matter was declined or diverted at intake: no department handles it now."""

    TYPE = "onestop.routing.case.assignment-withdrawn.v1"
    case_id: str
    reason: str
    withdrawn_at: Moment


class CaseAwaitingManualDispatch(Contract):
    """No dispatch rule covers the case; it waits in the manual-dispatch queue, not a guess."""

    TYPE = "onestop.routing.case.awaiting-manual-dispatch.v1"
    case_id: str
    reason: str
    rule_version: str
    queued_at: Moment


class ScheduledDeadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    due_at: Moment
    starts_at: Moment
    rule: str
    legal_basis: str
    id: str | None = Field(
        default=None, description="The deadline's id within the case, e.g. `resolution#2`."
    )
    remind_at: Moment | None = Field(default=None, description="When its reminder goes out.")
    department: str | None = Field(
        default=None, description="Who answers for it (code), if a department."
    )


class DeadlinesScheduled(Contract):
    """Follow-up put the case's deadlines on its clock."""

    TYPE = "onestop.followup.deadlines.scheduled.v1"
    case_id: str
    deadlines: list[ScheduledDeadline]


class CaseOverdue(Contract):
    """A deadline of the case passed unmet; routing escalates the case."""

    TYPE = "onestop.followup.case.overdue.v1"
    case_id: str
    deadline: str = Field(description="Which deadline, e.g. `resolution`.")
    due_at: Moment
    department: str | None = None
    deadline_id: str | None = Field(default=None, description="e.g. `resolution#2`.")
    escalate: bool = Field(
        default=True,
        description="Whether routing climbs the escalation ladder; missed reports and "
        "notices get a supervision notice instead.",
    )


class CaseFinal(Contract):
    """The matter ended after review and re-review (三级终结): the same facts and reasons are
    not accepted again (Art. 36). Intake refuses such repeats."""

    TYPE = "onestop.followup.case.final.v1"
    case_id: str
    summary: str
    final_at: Moment


class DeadlinesMet(Contract):
    """Deadlines of the case were met (by a plan, a report, an outcome, a decision…)."""

    TYPE = "onestop.followup.deadlines.met.v1"
    case_id: str
    deadlines: list[str] = Field(description="Their ids, e.g. `first-report#1`.")
    met_at: Moment


class DeadlinesSuperseded(Contract):
    """Deadlines of the case no longer run: the case moved to another lead, was declined,
    or was closed out."""

    TYPE = "onestop.followup.deadlines.superseded.v1"
    case_id: str
    deadlines: list[str]
    reason: str
    at: Moment


class DeadlineReminder(Contract):
    """A deadline is near: a reminder (催办) to whoever answers for it."""

    TYPE = "onestop.followup.deadline.reminder.v1"
    case_id: str
    deadline: str
    kind: str
    due_at: Moment
    department: str | None = None
    responsible: str | None = Field(
        default=None,
        description="Who answers for it: the department, the first receiver, the reviewing organ.",
    )
    rule: str


class SupervisionNotice(Contract):
    """A supervision notice (督办): issued by the supervision office, or by follow-up on a
    breach."""

    TYPE = "onestop.followup.case.supervision-notice.v1"
    case_id: str
    number: int
    department: str | None
    text: str
    automatic: bool
    deadline: str | None = None
    issued_at: Moment


class ClocksPaused(Contract):
    """The case's running clocks stopped (a hearing, 听证); their time is not counted."""

    TYPE = "onestop.followup.clocks.paused.v1"
    case_id: str
    deadlines: list[str]
    reason: str
    paused_at: Moment


class ClocksResumed(Contract):
    """The paused clocks run again, their deadlines moved on by the time paused."""

    TYPE = "onestop.followup.clocks.resumed.v1"
    case_id: str
    deadlines: list[ScheduledDeadline]
    paused_seconds: int
    resumed_at: Moment


class DeadlineExtended(Contract):
    """An approved extension (Art. 34), or a leader-approved long-term plan's date."""

    TYPE = "onestop.followup.deadline.extended.v1"
    case_id: str
    deadline: str
    period: str
    due_at: Moment
    reason: str
    approved_by: str


class HandlingReported(Contract):
    """The lead department reported on its handling: a plan, progress, or a leader-approved
    long-term plan (13710)."""

    TYPE = "onestop.followup.case.handling-reported.v1"
    case_id: str
    kind: Literal["plan", "progress", "long-term-plan"]
    summary: str
    major: bool | None = None
    target: Moment | None = None
    reported_at: Moment


class OutcomeRecorded(Contract):
    """The handling's outcome: a handling opinion (Art. 32) or a mediation/settlement
    agreement (Art. 33), with the co-handlers' parts."""

    TYPE = "onestop.followup.case.outcome-recorded.v1"
    case_id: str
    round: int = Field(description="1, or more after the case was reopened.")
    form: Literal["opinion", "agreement"]
    opinion: Literal["support", "explain", "not-support"] | None = None
    summary: str
    parts: dict[Code, str] = Field(default={}, description="Co-handler code → its part.")
    recorded_at: Moment


class SatisfactionRecorded(Contract):
    """The petitioner's satisfaction with an outcome: at a return visit, or rated online."""

    TYPE = "onestop.followup.case.satisfaction-recorded.v1"
    case_id: str
    round: int
    satisfaction: Literal["satisfied", "basically-satisfied", "unsatisfied"]
    notes: str
    source: Literal["return-visit", "petitioner"]
    recorded_at: Moment


class CaseReopened(Contract):
    """Found unsatisfying, the case is handled again."""

    TYPE = "onestop.followup.case.reopened.v1"
    case_id: str
    round: int
    reason: str
    reopened_at: Moment


class CeaseCommitmentRecorded(Contract):
    """The petitioner signed a cease-petition commitment (息诉罢访承诺书)."""

    TYPE = "onestop.followup.case.cease-commitment-recorded.v1"
    case_id: str
    note: str
    recorded_at: Moment


class CaseClosedOut(Contract):
    """The case was closed out (销号) as its policy allows."""

    TYPE = "onestop.followup.case.closed-out.v1"
    case_id: str
    basis: str
    closed_at: Moment


class ReviewRequested(Contract):
    """The petitioner asked for review (复查, Art. 35) or re-review (复核, Art. 36)."""

    TYPE = "onestop.followup.case.review-requested.v1"
    case_id: str
    level: Literal["review", "re-review"]
    organ: str
    reason: str
    requested_at: Moment


class ReviewDecided(Contract):
    TYPE = "onestop.followup.case.review-decided.v1"
    case_id: str
    level: Literal["review", "re-review"]
    decision: Literal["upheld", "revised", "revoked"]
    summary: str
    decided_at: Moment


class VisitRecorded(Contract):
    """Staff visited or called the petitioner back: who, when, what was said. Recorded
    at any time, also after close-out and once the matter is final, for as long as a
    long-term petitioner is followed."""

    TYPE = "onestop.followup.case.visit-recorded.v1"
    case_id: str
    kind: Literal["visit", "return-call"]
    visited_by: str
    visited_at: Moment
    summary: str
    recorded_at: Moment


class RegistryChanged(Contract):
    """An admin changed the centre's territory in routing's registry: exactly one of the
    fields below is set, holding the entry as it now stands (a retired one has
    `active: false`). Intake and follow-up keep a replica of the registry from these."""

    TYPE = "onestop.routing.registry.changed.v1"
    changed_at: Moment
    by: str
    centre: str | None = None
    layout: Layout | None = None
    place: Place | None = None
    department: RegisteredDepartment | None = None
    line: Line | None = None
    window: Window | None = None
    category: Category | None = None
    statistics: Statistics | None = None

    @model_validator(mode="after")
    def one_change(self) -> RegistryChanged:
        kinds = ("centre", "layout", "place", "department", "line", "window", "category")
        given = [k for k in (*kinds, "statistics") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of {', '.join((*kinds, 'statistics'))} is set")
        return self

    @property
    def change(
        self,
    ) -> str | Layout | Place | RegisteredDepartment | Line | Window | Category | Statistics:
        return next(
            v
            for v in (
                self.layout, self.place, self.department, self.line, self.window,
                self.category, self.statistics, self.centre,
            )
            if v is not None
        )  # fmt: skip


class CalendarPublished(Contract):
    """Follow-up published a year's public holidays and make-up working days (调休), as the
    State Council announced them; they replace what was published for that year before. Any
    service that counts working days counts with them from then on (routing: the days a
    department has to object to a case). The CloudEvent's subject is the calendar's id."""

    TYPE = "onestop.followup.calendar.published.v1"
    year: int
    holidays: list[Day]
    make_up_days: list[Day] = Field(
        default=[], description="Weekend days worked instead of a holiday."
    )
    published_at: Moment


class AttachmentAdded(Contract):
    """A file was attached to the case: its SHA-256 (the case's hash chain covers it), what
    it is, its type and size — not its name, which may be personal. The bytes stay in
    follow-up's attachment store."""

    TYPE = "onestop.followup.case.attachment-added.v1"
    case_id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str
    size: int = Field(ge=1)
    kind: Literal["letter", "identity-document", "agreement", "commitment", "photo", "other"]
    petitioner_id: str | None = Field(
        default=None, description="Whose personal data it is (erased with them), if anyone's."
    )
    added_at: Moment


class AttachmentsErased(Contract):
    """A petitioner of the case was erased: the bytes of these attachments (their personal
    data) were destroyed; their hashes stay in the history."""

    TYPE = "onestop.followup.case.attachments-erased.v1"
    case_id: str
    petitioner_id: str
    attachments: list[str] = Field(description="SHA-256 of each attachment destroyed.")
    erased_at: Moment


class PetitionerErased(Contract):
    """Intake erased a petitioner of the case (个人信息保护法: the retention period ended, or
    a lawful request): their personal data's key is destroyed, so it reads as erased
    everywhere. Names no personal data; says why and on whose authority."""

    TYPE = "onestop.intake.case.petitioner-erased.v1"
    case_id: str
    petitioner_id: str
    basis: Literal["retention", "request"]
    reference: str | None = Field(
        default=None, description="The request's or decision's reference, for a lawful request."
    )
    erased_at: Moment


CONTRACTS: dict[str, type[Contract]] = {
    c.TYPE: c
    for c in (
        CaseRegisteredV1,
        CaseRegistered,
        RegistryChanged,
        CaseClassified,
        CaseAcceptanceDecided,
        CaseRepeated,
        CaseAssigned,
        CaseAwaitingManualDispatch,
        CaseAnswered,
        ObjectionOverruled,
        CaseEscalated,
        JointMeetingHeld,
        HandlerRecused,
        PartReported,
        CaseRestricted,
        AssignmentWithdrawn,
        DeadlinesScheduled,
        DeadlinesMet,
        DeadlinesSuperseded,
        DeadlineReminder,
        CaseOverdue,
        SupervisionNotice,
        ClocksPaused,
        ClocksResumed,
        DeadlineExtended,
        HandlingReported,
        OutcomeRecorded,
        SatisfactionRecorded,
        CaseReopened,
        CeaseCommitmentRecorded,
        CaseClosedOut,
        ReviewRequested,
        ReviewDecided,
        CaseFinal,
        VisitRecorded,
        CalendarPublished,
        AttachmentAdded,
        AttachmentsErased,
        PetitionerErased,
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
        message = contract.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"{type_} does not fit its contract: {problems}") from None
    upgrade = getattr(message, "upgrade", None)
    return upgrade() if upgrade is not None else message


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
