"""Events follow-up stored before its domain became a package (`services/followup/domain.py`)
name their classes by that module: they must load into the same cases, calendar and
history with the code as it is now."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from services.followup.application import FollowUpApplication
from services.followup.commands import (
    ApproveLongTermPlan,
    CloseOut,
    DecideReview,
    ExtendDeadline,
    FilePlan,
    PauseClocks,
    PublishHolidays,
    RecordCeaseCommitment,
    RecordOutcome,
    RecordReturnVisit,
    ReportProgress,
    RequestReview,
    ResumeClocks,
)
from services.followup.domain import (
    CALENDAR_ID,
    CaseHistory,
    FollowUpCase,
    HolidayCalendar,
    history_id,
)
from services.followup.domain.vocabulary import (
    DeadlineKind,
    Opinion,
    OutcomeForm,
    ReviewDecision,
    ReviewLevel,
    Satisfaction,
)
from shared.domain import Actor
from shared.messages import (
    CaseAwaitingManualDispatch,
    CaseEscalated,
    CaseRepeated,
    CaseRestricted,
    Department,
    PartReported,
)
from tests.unit.messaging import Clock, send
from tests.unit.test_followup import (
    CLERK,
    LEAD,
    LEADER,
    SUPERVISOR,
    T0,
    T,
    accept,
    assign,
    registered,
)

OLD = "services.followup.domain"
OLD_TOPICS = [
    f"{OLD}:{name}"
    for name in (
        "FollowUpCase",
        "FollowUpCase.Opened",
        "FollowUpCase.RegistrationNoted",
        "FollowUpCase.AssignmentNoted",
        "FollowUpCase.ManualDispatchNoted",
        "FollowUpCase.AcceptanceNoted",
        "FollowUpCase.EscalationNoted",
        "FollowUpCase.RepeatNoted",
        "FollowUpCase.RestrictionNoted",
        "FollowUpCase.PartNoted",
        "FollowUpCase.DeadlinesScheduled",
        "FollowUpCase.DeadlinesMet",
        "FollowUpCase.DeadlinesSuperseded",
        "FollowUpCase.ReminderSent",
        "FollowUpCase.DeadlineBreached",
        "FollowUpCase.SupervisionNoticeIssued",
        "FollowUpCase.ClocksPaused",
        "FollowUpCase.ClocksResumed",
        "FollowUpCase.ExtensionGranted",
        "FollowUpCase.PlanFiled",
        "FollowUpCase.LongTermPlanApproved",
        "FollowUpCase.ProgressReported",
        "FollowUpCase.OutcomeRecorded",
        "FollowUpCase.SatisfactionRecorded",
        "FollowUpCase.Reopened",
        "FollowUpCase.CeaseCommitmentRecorded",
        "FollowUpCase.ClosedOut",
        "FollowUpCase.ReviewRequested",
        "FollowUpCase.ReviewDecided",
        "FollowUpCase.BecameFinal",
        "HolidayCalendar",
        "HolidayCalendar.Started",
        "HolidayCalendar.YearPublished",
        "CaseHistory",
        "CaseHistory.Started",
        "CaseHistory.EntryRecorded",
    )
]
"""Every topic follow-up stored before the split, as written to its event store then."""


@pytest.mark.parametrize("topic", OLD_TOPICS)
def test_every_topic_stored_before_the_split_resolves_to_the_class_of_that_name(topic):
    found = resolve_topic(topic)
    aggregate, _, event = topic.split(":")[1].partition(".")
    if event:
        assert found.__name__ == event
        assert issubclass(found, resolve_topic(f"{OLD}:{aggregate}").Event)
    else:
        assert found.__name__ == aggregate
    assert get_topic(found) != topic  # the class lives elsewhere now


def as_stored_before_the_split(stored: StoredEvent) -> StoredEvent:
    """The same stored event under the topic its class had before the split."""
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=f"{OLD}:{resolve_topic(stored.topic).__qualname__}",
        state=stored.state,
    )


def a_case_through_every_kind_of_event(app: FollowUpApplication, clock: Clock) -> str:
    """A case, the calendar and the history through every event class they have."""
    case_id = registered(app, clock)
    now = clock.now
    send(
        app,
        CaseAwaitingManualDispatch(
            case_id=case_id, reason="no rule", rule_version="v1", queued_at=now
        ),
        "routing",
    )
    assign(app, clock, case_id)
    accept(app, clock, case_id)
    send(
        app,
        CaseEscalated(
            case_id=case_id,
            level="joint-meeting",
            trigger="group",
            reason="40 people",
            escalated_at=now,
        ),
        "routing",
    )
    send(
        app,
        CaseRepeated(
            case_id=case_id, outcome="linked", channel="visit", repeat_count=1, repeated_at=now
        ),
    )
    send(
        app,
        CaseRestricted(case_id=case_id, barred_departments=["ninghe-urban"], restricted_at=now),
        "routing",
    )
    send(
        app,
        PartReported(
            case_id=case_id,
            department=Department(code="lutai-office", name="街道"),
            summary="visited",
            reported_at=now,
        ),
        "routing",
    )
    app.publish_holidays(
        PublishHolidays(
            year=2027, holidays=(date(2027, 1, 1),), actor=Actor("root", "admin"), trace=T
        )
    )
    app.pause_clocks(
        PauseClocks(case_id=UUID(case_id), reason="hearing", actor=SUPERVISOR, trace=T)
    )
    clock.advance(hours=2)
    app.resume_clocks(ResumeClocks(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    app.extend(
        ExtendDeadline(
            case_id=UUID(case_id),
            kind=DeadlineKind.STATUTORY_HANDLING,
            days=10,
            reason="arbitration",
            actor=LEADER,
            trace=T,
        )
    )
    clock.advance(hours=20)
    app.fire_due()  # the plan's reminder
    clock.advance(hours=6)
    app.fire_due()  # the plan's breach and its automatic supervision notice
    app.file_plan(
        FilePlan(
            case_id=UUID(case_id), summary="meet the employer", major=True, actor=LEAD, trace=T
        )
    )
    app.approve_long_term_plan(
        ApproveLongTermPlan(
            case_id=UUID(case_id),
            summary="monthly",
            target=clock.now + timedelta(days=90),
            actor=LEADER,
            trace=T,
        )
    )
    app.report_progress(
        ReportProgress(case_id=UUID(case_id), summary="half paid", actor=LEAD, trace=T)
    )
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="paid",
            actor=LEAD,
            trace=T,
        )
    )
    app.record_return_visit(
        RecordReturnVisit(
            case_id=UUID(case_id),
            satisfaction=Satisfaction.UNSATISFIED,
            notes="half",
            actor=CLERK,
            trace=T,
        )
    )
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.AGREEMENT,
            opinion=None,
            summary="all paid",
            actor=LEAD,
            trace=T,
        )
    )
    app.record_cease_commitment(
        RecordCeaseCommitment(case_id=UUID(case_id), note="signed", actor=CLERK, trace=T)
    )
    app.close_out(CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    app.request_review(
        RequestReview(
            case_id=UUID(case_id),
            level=ReviewLevel.REVIEW,
            organ="宁河区人民政府",
            reason="overtime",
            actor=CLERK,
            trace=T,
        )
    )
    app.decide_review(
        DecideReview(
            case_id=UUID(case_id),
            decision=ReviewDecision.UPHELD,
            summary="stands",
            actor=SUPERVISOR,
            trace=T,
        )
    )
    app.request_review(
        RequestReview(
            case_id=UUID(case_id),
            level=ReviewLevel.RE_REVIEW,
            organ="天津市人民政府",
            reason="still",
            actor=CLERK,
            trace=T,
        )
    )
    app.decide_review(
        DecideReview(
            case_id=UUID(case_id),
            decision=ReviewDecision.UPHELD,
            summary="final",
            actor=SUPERVISOR,
            trace=T,
        )
    )
    return case_id


def test_events_stored_under_the_old_topics_load_into_the_same_case_calendar_and_history():
    clock = Clock(T0)
    before = FollowUpApplication(clock=clock)
    case_id = a_case_through_every_kind_of_event(before, clock)
    stored = before.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False)
    assert not any(n.topic.startswith(f"{OLD}:") for n in stored)  # stored by this code

    after = FollowUpApplication(clock=clock)
    as_stored_then = [as_stored_before_the_split(n) for n in stored]
    aggregates = {f"{OLD}:{a}" for a in ("FollowUpCase", "HolidayCalendar", "CaseHistory")}
    assert {n.topic for n in as_stored_then} == set(OLD_TOPICS) - aggregates
    after.recorder.insert_events(as_stored_then)

    loaded = after.repository.get(case_id, deepcopy_from_cache=False)
    original = before.repository.get(case_id, deepcopy_from_cache=False)
    assert isinstance(loaded, FollowUpCase)
    assert loaded.__dict__ == original.__dict__
    assert loaded.status == "final"
    history = after.repository.get(history_id(case_id))
    assert isinstance(history, CaseHistory) and history.verify().verified
    assert history.entries == before.repository.get(history_id(case_id)).entries
    calendar = after.repository.get(CALENDAR_ID)
    assert isinstance(calendar, HolidayCalendar) and sorted(calendar.years) == [2027]
    # the ledger follows the case from the old topics too
    after.ledger.catch_up()
    everything = after.ledger.tables.facts(
        datetime.min.replace(tzinfo=UTC), datetime.now(UTC) + timedelta(days=3650)
    )
    facts = {f.case_id: f for f in everything}
    assert facts[loaded.id].status == "final"


def test_the_ledger_hears_a_clock_event_stored_under_the_old_topic():
    clock = Clock(T0)
    before = FollowUpApplication(clock=clock)
    case_id = registered(before, clock)
    assign(before, clock, case_id)
    before.pause_clocks(
        PauseClocks(case_id=UUID(case_id), reason="hearing", actor=SUPERVISOR, trace=T)
    )
    stored = before.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)
    topics = [n.topic for n in stored]
    paused = topics.index("services.followup.domain.case:FollowUpCase.ClocksPaused")
    after = FollowUpApplication(clock=clock)
    after.recorder.insert_events([as_stored_before_the_split(n) for n in stored[:paused]])
    assert after.ledger.due(T0 + timedelta(days=2))  # the plan is overdue, nothing paused
    after.recorder.insert_events([as_stored_before_the_split(n) for n in stored[paused:]])
    assert after.ledger.due(T0 + timedelta(days=2)) == []  # paused clocks do not fall due
