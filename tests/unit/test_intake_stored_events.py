"""What intake stored in earlier releases loads into its typed domain: every version of a
registration as it was written then — the walking skeleton's (v1) up to v4, before its
petitioners, group, external reference and duplicate review were value objects — and the
events whose enums the store holds as plain strings. Each is written into the recorder as the
JSON an earlier release wrote, then read with the code as it is now."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from services.intake import wire
from services.intake.application import API_KEYS_ID, IntakeApplication
from services.intake.commands import IssueTicket
from services.intake.domain import (
    Case,
    CasePetitioner,
    DuplicateReview,
    ExternalReference,
    GroupPetition,
    PersonDetails,
    ReviewDecision,
    Status,
)
from services.intake.queue import TicketState, day_id
from shared.domain import Actor
from shared.messages import CaseRegistered
from shared.territory import Location
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass
from tests.territory import seeded

WHEN = "2026-11-21T01:30:00+00:00"
CLERK = {"user": "alice", "role": "clerk", "department": "window-3"}
WANG_ID = "c240a5f6-9be2-49f9-a125-f78c08ef014e"
LI_ID = "2cf5cbcd-b71d-438f-bb2f-54108b7dd939"
EARLIER = "9b505c36-2f16-4c11-ae6b-647460dea62e"


def at(moment: str = WHEN) -> dict:
    return {"_type_": "datetime_iso", "_data_": moment}


def attributed() -> dict:
    return {"timestamp": at(), "actor": CLERK, "correlation_id": "corr", "causation_id": None}


def registered(version: int, **fields) -> dict:
    """A registration as that version stored it (v1 had no `class_version` key)."""
    state = {
        "timestamp": at(),
        "originator_topic": "services.intake.domain:Case",
        **attributed(),
        "channel": "visit",
        "subject": "拖欠工资",
        "description": "三个月未发",
        "category": "labour-wages",
        "first_receiver": "alice",
        **fields,
    }
    return state if version == 1 else {**state, "class_version": version}


THREE_TIERS = {"district": "ninghe", "street": "lutai", "community": "jinxiu"}
GROUP_OF_TWO = [
    {
        "name": "王建国",
        "id_number": "120117198503150016",
        "phone": "13800138000",
        "address": "芦台街道3号楼",
        "petitioner_id": WANG_ID,
    },
    {
        "name": "李梅",
        "id_number": None,
        "phone": "13900001111",
        "address": None,
        "petitioner_id": LI_ID,
    },
]

V1 = registered(1, petitioner={"name": "王建国", "phone": "13800138000"}, location=THREE_TIERS)
V2 = registered(
    2,
    petitioners=GROUP_OF_TWO,
    group={"participant_count": 12},
    location=THREE_TIERS,
    legal_class="claim",
    addressed_to=None,
    external=None,
    fingerprint="f",
    duplicate_review={
        "candidates": [EARLIER],
        "decision": "new",
        "reason": "另一件事",
        "new_facts": "新的工资条",
    },
)
V3 = registered(
    3,
    channel="system",
    petitioners=[],
    group=None,
    location=THREE_TIERS,
    legal_class=None,
    addressed_to=None,
    external={"system": "12345", "reference": "GD-1"},
    fingerprint="f2",
    duplicate_review={
        "candidates": [EARLIER],
        "decision": "unreviewed",
        "reason": None,
        "new_facts": None,
    },
    lookup_code_hash="f433",
    first_receiver="12345",
)
V4 = registered(
    4,
    petitioners=GROUP_OF_TWO,
    group={"participant_count": 12},
    location={
        "_type_": "Location",
        "_data_": {
            "place": "jinxiu",
            "path": ["ninghe", "lutai", "jinxiu"],
            "lat": 39.3,
            "long": 117.8,
        },
    },
    legal_class="claim",
    addressed_to=None,
    external=None,
    fingerprint="f",
    duplicate_review=None,
    lookup_code_hash="1c97",
)


def store(app: IntakeApplication, originator: UUID, *events: tuple[str, dict]) -> None:
    """Events as an earlier release wrote them: their topics and their state's JSON."""
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=originator,
                originator_version=version,
                topic=topic,
                state=orjson.dumps(state),
            )
            for version, (topic, state) in enumerate(events, start=1)
        ]
    )


def stored_case(app: IntakeApplication, registration: dict, *later: tuple[str, dict]) -> UUID:
    case_id = uuid4()
    store(
        app,
        case_id,
        ("services.intake.domain:Case.Registered", registration),
        *((f"services.intake.domain:Case.{name}", state) for name, state in later),
    )
    return case_id


@pytest.fixture
def app():
    return seeded(IntakeApplication())


def test_a_skeleton_registration_loads_with_its_one_petitioner_and_its_place():
    app = IntakeApplication()
    case = app.get_case(stored_case(app, V1))
    assert case.channel is Channel.VISIT
    assert case.petitioners == (CasePetitioner(PersonDetails("王建国", phone="13800138000")),)
    assert case.location == Location("jinxiu", ("ninghe", "lutai", "jinxiu"))
    assert (case.group, case.external, case.duplicate_review, case.legal_class) == (None,) * 4
    assert case.registered_by == Actor("alice", "clerk", "window-3")
    assert case.notice_required is True  # a name and a phone to reach them by
    assert case.media_url is None  # v6 keeps Open311's media_url; none was given then


def test_a_group_registered_at_v2_loads_its_representatives_group_and_review_as_values():
    app = IntakeApplication()
    case = app.get_case(stored_case(app, V2))
    wang, li = case.petitioners
    assert wang == CasePetitioner(
        PersonDetails("王建国", "120117198503150016", "13800138000", "芦台街道3号楼"), WANG_ID
    )
    assert li.details == PersonDetails("李梅", phone="13900001111") and li.petitioner_id == LI_ID
    assert case.group == GroupPetition(participant_count=12)
    assert case.legal_class is LegalClass.CLAIM
    assert case.duplicate_review == DuplicateReview(
        (EARLIER,), ReviewDecision.NEW, "另一件事", "新的工资条"
    )
    assert case.petitioner_ids == [WANG_ID, LI_ID]


def test_another_systems_case_registered_at_v3_loads_its_reference_and_unreviewed_candidates():
    app = IntakeApplication()
    case = app.get_case(stored_case(app, V3))
    assert case.channel is Channel.SYSTEM
    assert case.external == ExternalReference("12345", "GD-1")
    assert case.duplicate_review.decision is ReviewDecision.UNREVIEWED
    assert case.duplicate_review.repeat_of == ()
    assert case.first_receiver == "12345"


def test_a_v4_case_and_its_decisions_load_typed_and_go_on_the_wire_as_before():
    app = IntakeApplication()
    case_id = stored_case(
        app,
        V4,
        ("Classified", {**attributed(), "legal_class": "claim", "litigation_related": True,
                        "accused": None, "note": None}),
        ("AcceptanceDecided", {**attributed(), "decision": "divert", "reason": "已起诉",
                               "diverted_to": "court", "notice_required": True}),
        ("RepeatLinked", {**attributed(), "channel": "phone", "petitioner_ids": [WANG_ID],
                          "repeat_number": 1, "note": None}),
        ("ProgressNoted", {**attributed(), "stage": "assigned", "summary": "人社局",
                           "source_event": "e-1"}),
    )  # fmt: skip
    case = app.get_case(case_id)
    assert case.location == Location("jinxiu", ("ninghe", "lutai", "jinxiu"), 39.3, 117.8)
    assert case.litigation_related is True and case.legal_class is LegalClass.CLAIM
    decided = case.acceptance.decision
    assert (decided.decision, decided.diverted_to) == (Decision.DIVERT, LegalChannel.COURT)
    assert decided.decision is Decision.DIVERT and decided.diverted_to is LegalChannel.COURT
    assert case.acceptance.decided_by == Actor("alice", "clerk", "window-3")
    assert case.progress.stage is Status.ASSIGNED and case.status is Status.DIVERTED
    assert case.repeat_count == 1

    stored = app.recorder.select_events(case_id)
    [registration] = [app.mapper.to_domain_event(e) for e in stored[:1]]
    assert isinstance(registration, Case.Registered)
    sent = wire.to_cloudevent(registration)
    assert sent.data == CaseRegistered(
        case_id=str(case_id),
        channel="visit",
        subject="拖欠工资",
        description="三个月未发",
        category="labour-wages",
        location={"place": "jinxiu", "path": ["ninghe", "lutai", "jinxiu"]},
        registered_at=datetime(2026, 11, 21, 1, 30, tzinfo=UTC),
        first_receiver="alice",
        legal_class="claim",
        petitioner_ids=[WANG_ID, LI_ID],
        group_size=12,
        notice_required=True,
        lookup_code_hash="1c97",
    ).model_dump(mode="json")
    decision = wire.to_cloudevent(app.mapper.to_domain_event(stored[2]))
    assert (decision.data["decision"], decision.data["diverted_to"]) == ("divert", "court")


def test_a_v2_review_judged_new_is_still_told_as_the_cases_it_repeats():
    app = IntakeApplication()
    stored = app.recorder.select_events(stored_case(app, V2))
    sent = wire.to_cloudevent(app.mapper.to_domain_event(stored[0]))
    assert sent.data["repeat_of"] == [EARLIER]
    assert (sent.data["group_size"], sent.data["petitioner_ids"]) == (12, [WANG_ID, LI_ID])


def test_a_petitioner_and_the_open311_keys_stored_before_load_as_values():
    app = IntakeApplication()
    person_id = uuid4()
    store(
        app,
        person_id,
        ("services.intake.domain:Petitioner.Registered", {
            "timestamp": at(), "originator_topic": "services.intake.domain:Petitioner",
            "name": "王建国", "id_number": "120117198503150016", "phone": "13800138000",
            "address": None}),
        ("services.intake.domain:Petitioner.DetailsUpdated", {
            "timestamp": at(), "changes": {"address": "芦台街道3号楼"}}),
        ("services.intake.domain:Petitioner.CaseAdded", {
            "timestamp": at(), "case_id": EARLIER, "repeat": False}),
    )  # fmt: skip
    person = app.petitioner(person_id)
    assert person.details == PersonDetails(
        "王建国", "120117198503150016", "13800138000", "芦台街道3号楼"
    )
    assert person.case_ids == [EARLIER]
    store(
        app,
        API_KEYS_ID,
        ("services.intake.domain:ApiKeys.Started", {
            "timestamp": at(), "originator_topic": "services.intake.domain:ApiKeys"}),
        ("services.intake.domain:ApiKeys.Issued", {
            "timestamp": at(), "name": "city-app", "key_hash": "5d1b", "issued_by": "admin"}),
        ("services.intake.domain:ApiKeys.Revoked", {
            "timestamp": at("2026-11-22T01:30:00+00:00"), "name": "city-app",
            "revoked_by": "admin"}),
    )  # fmt: skip
    [(name, key)] = app.api_keys().items()
    assert (name, key.issued_by) == ("city-app", "admin")
    assert key.revoked_at == datetime(2026, 11, 22, 1, 30, tzinfo=UTC)


def test_a_days_queue_stored_before_loads_its_tickets_in_their_states(app):
    day = app.today()
    store(
        app,
        day_id(day),
        ("services.intake.queue:QueueDay.Opened", {
            "timestamp": at(), "originator_topic": "services.intake.queue:QueueDay",
            "day": day.isoformat()}),
        ("services.intake.queue:QueueDay.TicketIssued", {
            "timestamp": at(), "number": "A001", "line": "A", "issued_by": "guide"}),
        ("services.intake.queue:QueueDay.TicketCalled", {
            "timestamp": at(), "number": "A001", "window": "W01", "called_by": "guide"}),
        ("services.intake.queue:QueueDay.TicketFinished", {
            "timestamp": at(), "number": "A001", "outcome": "served", "case_id": "c-1"}),
    )  # fmt: skip
    served = app.queue_today().tickets["A001"]
    assert served.state is TicketState.SERVED and served.case_id == "c-1"
    assert app.issue_ticket(IssueTicket("A"), Actor("guide", "clerk")).number == "A002"


V5 = registered(
    5,
    petitioners=[
        {
            "_type_": "CasePetitioner",
            "_data_": {
                "details": {
                    "_type_": "PersonDetails",
                    "_data_": {
                        "name": "王建国",
                        "id_number": "120117198503150016",
                        "phone": "13800138000",
                        "address": None,
                    },
                },
                "petitioner_id": WANG_ID,
            },
        }
    ],
    group=None,
    location={
        "_type_": "Location",
        "_data_": {"place": "jinxiu", "path": ["ninghe", "lutai", "jinxiu"]},
    },
    legal_class=None,
    addressed_to=None,
    external=None,
    fingerprint="f5",
    duplicate_review=None,
    lookup_code_hash="55aa",
)


def test_a_registration_of_the_release_before_erasure_loads_unsealed_without_a_media_url():
    """v5 stored each petitioner's details in the clear (under the data keyring only): they
    still read, and v6's media_url is none."""
    app = IntakeApplication()
    case = app.get_case(stored_case(app, V5))
    assert case.petitioners == (
        CasePetitioner(PersonDetails("王建国", "120117198503150016", "13800138000"), WANG_ID),
    )
    assert case.media_url is None
