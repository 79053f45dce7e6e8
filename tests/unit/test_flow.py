"""The whole choreography on in-memory stores: what each service does with the others' events."""

from datetime import UTC, datetime
from itertools import count

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication, history_entry
from services.followup.commands import PauseClocks
from services.followup.domain.vocabulary import Status
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.intake.commands import PersonGiven, RegisterCase
from services.intake.domain import DuplicateAction, DuplicateDecision, Whereabouts
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from shared.domain import Actor, Trace
from shared.envelope import CloudEvent
from shared.messages import CaseAwaitingManualDispatch, CaseClosedOut, OutcomeRecorded
from shared.registry import hears_registry
from shared.vocabulary import Channel
from tests.territory import seeded
from tests.unit.messaging import send


def published(app, wire):
    """What the relay would put on the topic about cases, decoded as a consumer would see it
    (every application here heard the registry's changes when it was `seeded`)."""
    events = []
    for n in app.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False):
        event = wire.to_cloudevent(app.mapper.to_domain_event(n))
        if event and not hears_registry(event):
            events.append(CloudEvent.from_json(event.to_json()))
    return events


@pytest.fixture
def system():
    return seeded(IntakeApplication()), seeded(RoutingApplication()), seeded(FollowUpApplication())


def register(intake, category="labour-wages", street="lutai"):
    submission = RegisterCase(
        channel=Channel.VISIT,
        petitioners=(PersonGiven(name="王建国", phone="13800138000"),),
        subject="拖欠工资",
        description="三个月",
        category=category,
        location=Whereabouts(street),
        duplicate_decision=DuplicateDecision(DuplicateAction.NEW, reason="test cases are distinct"),
    )
    return intake.register(submission, Actor("alice", "clerk"), Trace("corr-7")).case


def deliver(app, topic, events, offsets=None):
    offsets = offsets or count()
    for event in events:
        app.handle(event, Tracking(f"kafka:{topic}:0", next(offsets)))


def test_a_registered_case_is_assigned_scheduled_and_its_history_links_every_hand_off(system):
    intake, routing, followup = system
    case = register(intake)
    registered = published(intake, intake_wire)
    deliver(routing, "intake", registered)
    assigned = published(routing, routing_wire)
    deliver(followup, "routing", assigned)  # routing's topic may be read first
    deliver(followup, "intake", registered)
    deliver(followup, "followup", published(followup, followup_wire))

    status = followup.get_case(case.id)
    assert status.status == "assigned"
    assert status.lead.code == "ninghe-hrss"
    assert {d.kind for d in status.deadlines} == {
        "acceptance-notice",
        "handling-plan",
        "first-report",
        "resolution",
    }
    entries, verification = followup.history(case.id)
    assert verification.verified
    types = [e.entry.type.split(".")[2:4] for e in entries]
    assert types[:2] == [["case", "registered"], ["case", "assigned"]]
    assert entries[1].entry.causation_id == entries[0].entry.event_id
    assert {e.entry.correlation_id for e in entries} == {"corr-7"}
    assert sorted(types[2:]) == [["deadlines", "scheduled"]] * 2


def test_a_redelivered_record_has_no_second_effect(system):
    intake, routing, _ = system
    register(intake)
    [registered] = published(intake, intake_wire)
    routing.handle(registered, Tracking("kafka:intake:0", 0))
    with pytest.raises(IntegrityError):
        routing.handle(registered, Tracking("kafka:intake:0", 0))
    # the relay may publish the same event again at a new offset after a crash
    routing.handle(registered, Tracking("kafka:intake:0", 1))
    assert len(published(routing, routing_wire)) == 1


def test_a_republished_event_appears_once_in_the_history(system):
    intake, _, followup = system
    case = register(intake)
    registered = published(intake, intake_wire)
    deliver(followup, "intake", registered + registered)
    entries, _ = followup.history(case.id)
    assert [e.entry.event_id for e in entries].count(registered[0].id) == 1
    assert len(followup.get_case(case.id).deadlines) == 1


def test_follow_ups_own_events_follow_their_cause_in_the_history_as_they_are_published(system):
    """Follow-up records its own events in a case's history when it saves them (not when it
    hears them back on its own topic): each right after its cause, exactly as the relay
    publishes it, and hearing it back records nothing twice."""
    intake, routing, followup = system
    case = register(intake)
    registered = published(intake, intake_wire)
    deliver(routing, "intake", registered)
    deliver(followup, "routing", published(routing, routing_wire))
    deliver(followup, "intake", registered)  # heard after the assignment: recorded after it

    entries = followup.stored_history(case.id).entries
    types = [e.entry.type.split(".")[2:4] for e in entries]
    assert types == [
        ["case", "assigned"],
        ["deadlines", "scheduled"],
        ["case", "registered"],
        ["deadlines", "scheduled"],
    ]
    own = published(followup, followup_wire)
    assert [e.entry for e in entries if e.entry.service == "followup"] == [
        history_entry(event) for event in own
    ]
    assert entries[1].entry.causation_id == entries[0].entry.event_id
    assert entries[3].entry.causation_id == entries[2].entry.event_id

    deliver(followup, "followup", own)  # heard back on follow-up's own topic
    again = followup.stored_history(case.id)
    assert len(again.entries) == 4 and again.verify().verified

    # a person's command: its event is in the history with it
    followup.pause_clocks(
        PauseClocks(
            case_id=case.id,
            reason="awaiting an appraisal",
            actor=Actor("zhou", "supervisor"),
            trace=Trace("c-9"),
        )
    )
    latest = followup.stored_history(case.id).entries[-1].entry
    assert latest.type.split(".")[2:4] == ["clocks", "paused"]
    assert latest.correlation_id == "c-9" and latest.actor.user == "zhou"


def test_history_as_of_a_past_moment_shows_only_what_had_happened(system):
    intake, routing, followup = system
    case = register(intake)
    [registered] = published(intake, intake_wire)
    deliver(routing, "intake", [registered])
    [assigned] = published(routing, routing_wire)
    deliver(followup, "intake", [registered])
    deliver(followup, "routing", [assigned])
    entries, _ = followup.history(case.id, as_of=registered.time)
    assert [e.entry.event_id for e in entries] == [registered.id]
    then = followup.get_case(case.id, as_of=registered.time)
    assert (then.status, then.lead) == ("registered", None)
    assert followup.get_case(case.id).status == "assigned"


def test_a_case_as_of_a_moment_has_what_had_happened_however_late_follow_up_heard_of_it(
    system,
):
    """Follow-up noted the registration at once and the assignment only later (its consumer
    behind): as of the assignment, the case is assigned, as its history says — not still
    registered because follow-up had not yet heard (it was, before `happened_at`)."""
    intake, routing, followup = system
    case = register(intake)
    [registered] = published(intake, intake_wire)
    deliver(followup, "intake", [registered])
    deliver(routing, "intake", [registered])
    [assigned] = published(routing, routing_wire)
    deliver(followup, "routing", [assigned])  # later than the assignment
    [heard] = [e for e in followup.events.get(case.id) if type(e).__name__ == "AssignmentNoted"]
    assert heard.timestamp > assigned.time  # follow-up heard of it after it happened

    entries, _ = followup.history(case.id, as_of=assigned.time)
    assert [e.entry.event_id for e in entries][-1] == assigned.id
    then = followup.get_case(case.id, as_of=assigned.time)
    assert (then.status, then.lead.code if then.lead else None) == (
        "assigned",
        assigned.data["lead"]["code"],
    )
    before = followup.get_case(case.id, as_of=registered.time)
    assert (before.status, before.lead) == ("registered", None)


def test_a_case_as_of_when_routing_queued_it_for_manual_dispatch_is_waiting_for_it(system):
    """What follow-up notes of routing's queueing carries when routing queued the case, so
    as of that moment the case waits for manual dispatch though follow-up heard of it later
    (it counted from when follow-up noted it before)."""
    intake, routing, followup = system
    case = register(intake, category="other")  # no dispatch rule covers it
    [registered] = published(intake, intake_wire)
    deliver(followup, "intake", [registered])
    deliver(routing, "intake", [registered])
    [queued] = published(routing, routing_wire)
    assert queued.type == CaseAwaitingManualDispatch.TYPE
    deliver(followup, "routing", [queued])  # later than routing queued it
    [heard] = [e for e in followup.events.get(case.id) if type(e).__name__ == "ManualDispatchNoted"]
    assert heard.timestamp > queued.time

    then = followup.get_case(case.id, as_of=queued.time)
    assert then.status == Status.AWAITING_MANUAL_DISPATCH
    assert then.manual_dispatch_reason == queued.data["reason"]
    before = followup.get_case(case.id, as_of=registered.time)
    assert before.status == Status.REGISTERED


def test_the_relay_skips_only_intake_events_that_never_go_on_the_wire():
    intake = seeded(IntakeApplication())
    case = register(intake)
    stored = intake.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)
    assert {n.topic.rsplit(".", 1)[-1] for n in stored} >= {"Registered", "CaseAdded"}
    for notification in stored:
        wired = intake_wire.to_cloudevent(intake.mapper.to_domain_event(notification))
        assert intake_wire.publishes(notification.topic) == (wired is not None), notification.topic
    assert case.id


def test_intake_tells_the_window_what_follow_up_answered_and_when_it_was_closed(system):
    intake, _, _ = system
    case = register(intake)
    now = datetime.now(UTC)
    send(
        intake,
        OutcomeRecorded(
            case_id=str(case.id),
            round=1,
            form="agreement",
            summary="双方签订调解协议",
            recorded_at=now,
        ),
        "followup",
    )
    answered = intake.get_case(case.id)
    assert (answered.status, answered.progress.summary) == (
        "answered",
        "调解/和解协议: 双方签订调解协议",
    )
    send(
        intake,
        CaseClosedOut(case_id=str(case.id), basis="return visit: satisfied", closed_at=now),
        "followup",
    )
    assert intake.get_case(case.id).status == "closed"


def test_a_history_read_is_not_changed_by_what_is_recorded_after_it(system):
    """The history is read in place (not copied): what a reader got stays as it was when
    the case's history grows afterwards, and the next read shows the new entry."""
    intake, routing, followup = system
    case = register(intake)
    registered = published(intake, intake_wire)
    deliver(followup, "intake", registered)
    entries, verification = followup.history(case.id)
    before = [link.entry.event_id for link in entries]

    deliver(routing, "intake", registered)
    deliver(followup, "routing", published(routing, routing_wire), count(1))

    assert [link.entry.event_id for link in entries] == before
    assert verification.entries == len(before)
    after, again = followup.history(case.id)
    assert len(after) > len(before) and again.verified
