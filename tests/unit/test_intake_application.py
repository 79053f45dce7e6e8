"""Intake's commands on an in-memory store: the registry, idempotency, duplicates, repeats."""

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.intake.application import (
    IdempotencyConflict,
    IntakeApplication,
    PossibleDuplicates,
)
from services.intake.commands import PersonGiven, RegisterCase
from services.intake.domain import (
    Case,
    CaseIsFinal,
    DuplicateAction,
    DuplicateDecision,
    DuplicateReview,
    ExternalReference,
    InvalidCase,
    ReviewDecision,
    Whereabouts,
)
from services.intake.index import Query
from shared.domain import Actor, Trace
from shared.envelope import CloudEvent
from shared.messages import CaseAssigned, CaseFinal, Department, dump
from shared.vocabulary import Channel
from tests.territory import seeded

CLERK = Actor("alice", "clerk")
HOTLINE = Actor("12345-hotline", "integration")
WANG = PersonGiven(name="王建国", id_number="120117198503150016", phone="13800138000")


def submission(**overrides):
    fields = dict(
        channel=Channel.VISIT,
        petitioners=(WANG,),
        subject="拖欠工资",
        description="三个月未发",
        category="labour-wages",
        location=Whereabouts("jinxiu"),
        fingerprint="f-1",
    )
    fields.update(overrides)
    return RegisterCase(**fields)


def new(reason=None, new_facts=None):
    return DuplicateDecision(DuplicateAction.NEW, reason=reason, new_facts=new_facts)


def link(case_id):
    return DuplicateDecision(DuplicateAction.LINK, case_id=case_id)


@pytest.fixture
def app():
    return seeded(IntakeApplication())


def register(app, actor=CLERK, **overrides):
    return app.register(submission(**overrides), actor, Trace("corr"))


def test_one_persons_cases_are_linked_in_the_registry_whatever_the_phone_format(app):
    first = register(app)
    second = register(
        app,
        petitioners=(replace(WANG, phone="+86 138-0013-8000", address="芦台街道3号楼"),),
        category="housing-demolition",
        duplicate_decision=new("另一件事：拆迁补偿"),
    )
    person = app.petitioner(app.find_petitioner_id(id_number=WANG.id_number, phone=None))
    assert person.case_ids == [str(first.case.id), str(second.case.id)]
    assert person.details.address == "芦台街道3号楼"  # newer details kept
    assert second.case.petitioners[0].petitioner_id == str(person.id)


def test_a_registration_is_checked_once_though_a_conflicting_save_is_tried_again(app, monkeypatch):
    checks, conflicts = [], []
    check, persist = Case.check_submission, app._persist

    def counted(*args, **kwargs):
        checks.append(kwargs["category"])
        return check(*args, **kwargs)

    def conflicting(*aggregates):
        if not conflicts:
            conflicts.append(aggregates)
            raise IntegrityError("another request saved the petitioner's entry first")
        persist(*aggregates)

    monkeypatch.setattr(Case, "check_submission", staticmethod(counted))
    monkeypatch.setattr(app, "_persist", conflicting)
    assert register(app).outcome == "registered"
    assert (len(conflicts), checks) == (1, ["labour-wages"])


def test_the_same_external_reference_never_makes_a_second_case(app):
    external = ExternalReference("12345-hotline", "GD-2026-0001")
    sent = dict(channel=Channel.SYSTEM, external=external, petitioners=(), fingerprint="f-9")
    first = register(app, actor=HOTLINE, **sent)
    again = register(app, actor=HOTLINE, **sent)
    assert (first.outcome, again.outcome) == ("registered", "existing")
    assert again.case.id == first.case.id
    with pytest.raises(IdempotencyConflict) as error:
        register(app, actor=HOTLINE, **{**sent, "fingerprint": "other"})
    assert error.value.field == "external.reference"


def test_an_idempotency_key_is_scoped_to_its_caller(app):
    first = register(app, idempotency_key="k-1")
    assert register(app, idempotency_key="k-1").outcome == "existing"
    other = app.register(
        submission(
            idempotency_key="k-1", petitioners=(), channel=Channel.LETTER, category="health"
        ),
        Actor("bob", "clerk"),
        Trace("c"),
    )
    assert other.case.id != first.case.id


def test_a_likely_duplicate_is_put_to_the_clerk_then_linked_without_a_new_case(app):
    first = register(app)
    with pytest.raises(PossibleDuplicates) as error:
        register(app, channel=Channel.PHONE)
    [candidate] = error.value.candidates
    assert candidate["case_id"] == first.case.id
    assert "same petitioner" in candidate["reasons"]
    linked = register(app, channel=Channel.PHONE, duplicate_decision=link(first.case.id))
    assert linked.outcome == "linked"
    assert linked.case.id == first.case.id
    assert linked.case.repeat_count == 1
    person = app.petitioner(app.find_petitioner_id(id_number=WANG.id_number, phone=None))
    assert (len(person.case_ids), person.repeat_count) == (1, 1)
    _, total = app.index.search(Query())
    assert total == 1


def test_the_same_place_and_category_is_a_likely_duplicate_even_from_someone_else(app):
    register(app)
    neighbour = PersonGiven(name="李梅", phone="13900001111")
    with pytest.raises(PossibleDuplicates) as error:
        register(app, petitioners=(neighbour,))
    assert error.value.candidates[0]["reasons"] == ["same place and category"]


def test_registering_anew_needs_a_reason_which_is_kept(app):
    first = register(app)
    with pytest.raises(InvalidCase) as error:
        register(app, duplicate_decision=new())
    assert error.value.field == "duplicate_decision.reason"
    anew = register(app, duplicate_decision=new("新的欠薪期间"))
    assert anew.outcome == "registered"
    assert anew.case.duplicate_review == DuplicateReview(
        candidates=(str(first.case.id),),
        decision=ReviewDecision.NEW,
        reason="新的欠薪期间",
        new_facts=None,
    )


def test_another_systems_submission_is_registered_with_its_candidates_noted(app):
    first = register(app)
    pushed = register(
        app,
        actor=HOTLINE,
        channel=Channel.SYSTEM,
        external=ExternalReference("12345-hotline", "GD-7"),
    )
    assert pushed.outcome == "registered"
    assert pushed.case.duplicate_review.candidates == (str(first.case.id),)
    assert pushed.case.duplicate_review.decision == "unreviewed"


def deliver(app, message, offset=0):
    event = CloudEvent(
        id=str(uuid4()),
        source="onestop/followup",
        type=message.TYPE,
        subject=message.case_id,
        time=datetime.now(UTC),
        data=dump(message),
        actor=Actor.service("followup"),
        correlation_id="corr",
    )
    app.handle(event, Tracking("kafka:t:0", offset))


def test_a_repeat_of_a_final_matter_is_refused_unless_it_brings_new_facts(app):
    first = register(app)
    deliver(
        app, CaseFinal(case_id=str(first.case.id), summary="复核终结", final_at=datetime.now(UTC))
    )
    assert app.get_case(first.case.id).status == "final"
    refused = register(app, duplicate_decision=link(first.case.id))
    assert refused.outcome == "refused"
    with pytest.raises(CaseIsFinal):
        register(app, duplicate_decision=new("again"))
    anew = register(app, duplicate_decision=new("新证据", new_facts="新的工资条"))
    assert anew.outcome == "registered"
    case = app.get_case(first.case.id)
    assert (case.repeat_count, case.refused_repeats) == (1, 1)
    person = app.petitioner(app.find_petitioner_id(id_number=WANG.id_number, phone=None))
    assert person.repeat_count == 1


def test_a_system_repeating_a_final_matter_is_refused_the_same_way(app):
    first = register(app)
    deliver(app, CaseFinal(case_id=str(first.case.id), summary="终结", final_at=datetime.now(UTC)))
    pushed = register(
        app,
        actor=HOTLINE,
        channel=Channel.SYSTEM,
        external=ExternalReference("12345-hotline", "9"),
    )
    assert (pushed.outcome, pushed.case.id) == ("refused", first.case.id)


def test_routings_assignment_becomes_the_progress_the_petitioner_is_told(app):
    case = register(app).case
    assigned = CaseAssigned(
        case_id=str(case.id),
        lead=Department(code="ninghe-hrss", name="宁河区人力资源和社会保障局"),
        rule_id="R-01",
        rule_version="v",
        reason="r",
        assigned_at=datetime.now(UTC),
    )
    deliver(app, assigned, offset=5)
    seen = app.get_case(case.id)
    assert seen.status == "assigned"
    assert seen.progress.summary == "宁河区人力资源和社会保障局"
