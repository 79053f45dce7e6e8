from dataclasses import replace
from datetime import date
from uuid import uuid4

import pytest

from services.intake.domain import (
    AcceptanceDecision,
    ApiKeys,
    Case,
    CaseIsFinal,
    CasePetitioner,
    DecisionRefused,
    ExternalReference,
    GroupPetition,
    InvalidCase,
    PersonDetails,
    PersonShown,
    Status,
    Whereabouts,
    check_id_number,
    normalise_phone,
    shown,
)
from shared.domain import Actor, DomainError, Trace
from shared.policy import Sight, sight
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass
from tests.territory import territory

CLERK = Actor("alice", "clerk", "window-3")
AUDITOR = Actor("carol", "auditor")
VALID_ID = "120117198503150016"
WANG = CasePetitioner(
    PersonDetails(
        name="王建国",
        id_number=VALID_ID,
        phone="13800138000",
        address="宁河区芦台街道锦绣社区3号楼",
    ),
    petitioner_id="p-1",
)


def register(**overrides):
    """A submission checked against the territory, as the application does, then registered."""
    fields = dict(
        channel=Channel.VISIT,
        petitioners=[WANG],
        subject="拖欠工资",
        description="三个月未发",
        category="labour-wages",
        location=Whereabouts("jinxiu"),
        actor=CLERK,
        trace=Trace("corr-1"),
    )
    fields.update(overrides)
    problems = Case.check_submission(
        territory(),
        channel=fields["channel"],
        petitioner_count=len(fields["petitioners"]),
        group=fields.get("group"),
        subject=fields["subject"],
        description=fields["description"],
        category=fields["category"],
        location=fields["location"],
        addressed_to=fields.get("addressed_to"),
        external=fields.get("external"),
    )
    if problems:
        raise InvalidCase.listing(problems)
    place = fields["location"]
    fields["location"] = territory().locate(place.place, place.lat, place.long)
    return Case.register(**fields)


def test_the_clerk_who_registers_a_case_is_its_first_receiver():
    case = register()
    assert case.first_receiver == "alice"
    assert case.registered_by == Actor("alice", "clerk", "window-3")
    [event] = case.collect_events()
    assert isinstance(event, Case.Registered)
    assert event.correlation_id == "corr-1"


def test_a_repeat_comes_back_to_the_first_receiver_whoever_takes_it():
    case = register()
    other = Actor("bob", "clerk", "window-5")
    case.link_repeat(channel=Channel.PHONE, petitioner_ids=["p-1"], actor=other, trace=Trace("c"))
    assert (case.repeat_count, case.first_receiver) == (1, "alice")


@pytest.mark.parametrize(
    "channel, extra",
    [
        ("visit", {}),
        ("letter", {}),
        ("phone", {}),
        ("online", {}),
        ("leader-mailbox", {"addressed_to": "区长信箱"}),
        ("system", {"external": ExternalReference("12345", "GD-1")}),
    ],
)
def test_every_channel_registers(channel, extra):
    assert register(channel=Channel(channel), **extra).channel == channel


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("(022) 6959 1234", "02269591234"),
    ],
)
def test_phone_numbers_are_normalised(raw, expected):
    assert normalise_phone(raw) == expected


def test_a_valid_id_number_passes_and_a_lower_case_x_is_normalised():
    assert check_id_number(VALID_ID) == VALID_ID
    assert check_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    "number, problem",
    [
        ("120117198503150017", "check digit"),
        ("12011719850315001", "18 characters"),
        ("120117198513150016", "not a date"),
        ("120117230003150016", "impossible"),
        ("A20117198503150016", "18 characters"),
    ],
)
def test_an_invalid_id_number_is_refused_saying_why(number, problem):
    with pytest.raises(InvalidCase) as error:
        check_id_number(number, today=date(2026, 11, 21))
    assert problem in str(error.value)
    assert error.value.field == "petitioner.id_number"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"category": "weather"}, "category"),
        ({"location": Whereabouts("atlantis")}, "location.place"),
        ({"location": Whereabouts("lutai", lat=39.3)}, "location.lat"),
        ({"subject": " "}, "subject"),
        ({"description": " "}, "description"),
        ({"petitioners": []}, "petitioner"),
        ({"channel": Channel.LEADER_MAILBOX}, "addressed_to"),
        ({"channel": Channel.SYSTEM}, "external"),
    ],
)
def test_an_invalid_submission_names_the_field(overrides, field):
    with pytest.raises(InvalidCase) as error:
        register(**overrides)
    assert error.value.field == field


@pytest.mark.parametrize(
    "person, field",
    [
        ({"name": " ", "phone": "13800138000"}, "petitioner.name"),
        ({"name": "王", "phone": "555-0100"}, "petitioner.phone"),
        ({"name": "王", "id_number": "1201171985", "phone": "13800138000"}, "petitioner.id_number"),
        ({"name": "王"}, "petitioner.phone"),
    ],
)
def test_a_bad_petitioner_field_is_named(person, field):
    with pytest.raises(InvalidCase) as error:
        PersonDetails.of(**person, at="petitioner")
    assert error.value.field == field


def test_a_letter_may_come_without_a_way_to_reach_the_writer_and_then_owes_no_notice():
    assert PersonDetails.of("匿名", at="petitioner", contact_required=False).phone is None
    anonymous = register(channel=Channel.LETTER, petitioners=[])
    assert anonymous.notice_required is False
    assert register().notice_required is True


def test_a_group_elects_at_most_five_representatives():
    five = [replace(WANG, petitioner_id=f"p-{i}") for i in range(5)]
    case = register(petitioners=five, group=GroupPetition(participant_count=40))
    assert len(case.petitioners) == 5
    assert case.group == GroupPetition(participant_count=40)
    with pytest.raises(InvalidCase) as error:
        register(petitioners=[*five, WANG], group=GroupPetition(participant_count=40))
    assert error.value.field == "group.representatives"
    assert "at most 5" in str(error.value)


def test_a_group_has_at_least_two_participants():
    with pytest.raises(InvalidCase) as error:
        register(group=GroupPetition(participant_count=1))
    assert error.value.field == "group.participant_count"


def test_an_accusation_names_the_accused():
    case = register()
    with pytest.raises(DecisionRefused) as error:
        case.classify(LegalClass.ACCUSATION, actor=CLERK, trace=Trace("c"))
    assert error.value.field == "accused"
    case.classify(LegalClass.ACCUSATION, accused="某街道城管中队", actor=CLERK, trace=Trace("c"))
    assert (case.legal_class, case.accused) == ("accusation", "某街道城管中队")


def decide(case, decision, reason=None, diverted_to=None):
    case.decide_acceptance(
        AcceptanceDecision(decision, reason, diverted_to), actor=CLERK, trace=Trace("c")
    )


def test_acceptance_needs_a_legal_class_first_and_is_decided_once():
    case = register()
    with pytest.raises(DecisionRefused) as error:
        decide(case, Decision.ACCEPT)
    assert error.value.field == "legal_class"
    case.classify(LegalClass.CLAIM, actor=CLERK, trace=Trace("c"))
    decide(case, Decision.ACCEPT)
    assert case.status == "accepted"
    assert case.acceptance.decided_by.user == "alice"
    with pytest.raises(DecisionRefused):
        decide(case, Decision.DECLINE, reason="x")
    with pytest.raises(DecisionRefused):
        case.classify(LegalClass.SUGGESTION, actor=CLERK, trace=Trace("c"))


def test_declining_needs_the_reason_the_petitioner_is_told():
    case = register(legal_class=LegalClass.CLAIM)
    with pytest.raises(DecisionRefused) as error:
        decide(case, Decision.DECLINE)
    assert error.value.field == "reason"
    decide(case, Decision.DECLINE, reason="不属于信访事项")
    assert case.status == "declined"


def test_a_litigation_related_matter_is_diverted_to_its_legal_channel_not_accepted():
    case = register()
    case.classify(LegalClass.CLAIM, litigation_related=True, actor=CLERK, trace=Trace("c"))
    with pytest.raises(DecisionRefused) as error:
        decide(case, Decision.ACCEPT)
    assert "诉访分离" in str(error.value)
    with pytest.raises(DecisionRefused) as error:
        decide(case, Decision.DIVERT, reason="已起诉")
    assert error.value.field == "diverted_to"
    decide(case, Decision.DIVERT, reason="已起诉", diverted_to=LegalChannel.COURT)
    assert case.status == "diverted"
    assert case.acceptance.decision.diverted_to == "court"


def test_a_repeat_is_linked_and_counted_and_a_final_matter_refuses_it():
    case = register()
    case.link_repeat(channel=Channel.PHONE, petitioner_ids=["p-1"], actor=CLERK, trace=Trace("c"))
    assert case.repeat_count == 1
    case.note_progress(Status.FINAL, "复核终结", source_event="e-1", trace=Trace("c"))
    case.link_repeat(channel=Channel.VISIT, petitioner_ids=["p-1"], actor=CLERK, trace=Trace("c"))
    assert (case.repeat_count, case.refused_repeats, case.status) == (2, 1, "final")
    assert isinstance(case.collect_events()[-1], Case.RepeatRefused)
    with pytest.raises(CaseIsFinal):
        decide(case, Decision.ACCEPT)


def test_personal_data_is_masked_for_those_the_policy_does_not_entitle():
    case = register()
    assert sight(AUDITOR, case.access) is Sight.MASKED
    assert sight(CLERK, case.access) is Sight.FULL
    [(_, seen)] = case.petitioners_for(sight(AUDITOR, case.access))
    assert seen.details.name == "王**"
    assert seen.details.phone == "138****8000"
    assert seen.details.id_number == "120***********0016"
    assert seen.details.address == "宁河区芦台街****"
    assert seen.masked is True
    [(_, clerk_sees)] = case.petitioners_for(sight(CLERK, case.access))
    assert clerk_sees.details.id_number == VALID_ID
    assert shown(PersonDetails("李", phone=None), Sight.MASKED) == PersonShown(
        PersonDetails("*", phone=None), masked=True
    )


def test_an_api_key_is_known_by_its_hash_until_revoked():
    keys = ApiKeys.start(uuid4())
    keys.issue("city-app", "hash-1", "admin")
    assert keys.holder("hash-1") == "city-app"
    with pytest.raises(DomainError):
        keys.issue("city-app", "hash-2", "admin")
    keys.revoke("city-app", "admin")
    assert keys.holder("hash-1") is None
    with pytest.raises(DomainError):
        keys.revoke("city-app", "admin")
