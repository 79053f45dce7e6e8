"""The objection window (Art. 23 ¶3): computed once, when a department receives the case,
with the rule and the holidays as they are then — follow-up's published calendar, heard on
its topic — and stored in the event, so neither a later change of the rule nor a newly
published holiday moves a deadline already given, and old events keep what they meant."""

from dataclasses import asdict
from datetime import date, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from services.followup.commands import PublishHolidays
from services.followup.domain import CALENDAR_ID as FOLLOWUP_CALENDAR_ID
from services.routing.application import RoutingApplication
from services.routing.calendar import CALENDAR_ID as ROUTING_CALENDAR_ID
from services.routing.commands import DispatchByHand
from services.routing.domain import Assignment, ObjectionWindow, Party
from shared.calendar import CHINA, LOCAL, Period, WorkCalendar
from shared.domain import Actor, Trace
from shared.http import NotFound
from tests.territory import seeded
from tests.unit.test_flow import deliver, published
from tests.unit.test_routing import SUPERVISOR, register

FIVE = Period(5, "working-days")
ADMIN = Actor("root", "admin")
T = Trace("corr-w")


def lead(app: RoutingApplication, case_id: str) -> Party:
    assignment = app.get_assignment(case_id)
    return assignment.parties[assignment.lead.code]


def replayed(app: RoutingApplication, case_id: str) -> Assignment:
    """The assignment made again from its stored events alone, not from any cache."""
    return project_aggregate(None, app.events.get(case_id))


def by_hand(case_id: str) -> DispatchByHand:
    """The supervision office moves the case to the environment bureau."""
    return DispatchByHand(
        case_id=UUID(case_id), lead="ninghe-eco", reason="r", actor=SUPERVISOR, trace=T
    )


def two_weeks_off(followup: FollowUpApplication) -> WorkCalendar:
    """Follow-up publishes the next fourteen days as holidays, on top of each year's own;
    returns the calendar that makes."""
    off = {datetime.now(LOCAL).date() + timedelta(days=i) for i in range(1, 15)}
    calendar = CHINA
    for year in sorted({d.year for d in off}):
        holidays = sorted({d for d in CHINA.holidays if d.year == year} | off_in(off, year))
        make_up = sorted(d for d in CHINA.make_up_days if d.year == year and d not in off)
        followup.publish_holidays(
            PublishHolidays(
                year=year,
                holidays=tuple(holidays),
                make_up_days=tuple(make_up),
                actor=ADMIN,
                trace=T,
            )
        )
        calendar = calendar.with_year(frozenset(holidays), frozenset(make_up), year)
    return calendar


def off_in(days: set[date], year: int) -> set[date]:
    return {d for d in days if d.year == year}


def test_a_department_receives_the_case_with_its_deadline_to_object_in_the_event():
    app = seeded(RoutingApplication())
    case_id = register(app)
    party = lead(app, case_id)
    assert party.objection_due == CHINA.end(party.since, FIVE)
    [assigned] = [e for e in app.events.get(case_id) if isinstance(e, Assignment.Assigned)]
    assert assigned.objection_due == party.objection_due


def test_changing_the_window_moves_only_the_deadlines_of_cases_received_afterwards():
    app = seeded(RoutingApplication())
    before = register(app)
    given = lead(app, before).objection_due

    app.objection_window = ObjectionWindow(Period(10, "working-days"))
    after = lead(app, register(app))
    assert after.objection_due == CHINA.end(after.since, Period(10, "working-days"))
    assert lead(app, before).objection_due == given
    assert replayed(app, before).parties["ninghe-hrss"].objection_due == given

    moved = app.dispatch(by_hand(before))
    eco = moved.parties["ninghe-eco"]
    assert eco.objection_due == CHINA.end(eco.since, Period(10, "working-days"))


def test_routing_hears_the_holidays_follow_up_publishes_and_counts_later_windows_with_them():
    followup, routing = FollowUpApplication(), seeded(RoutingApplication())
    before = register(routing)
    given = lead(routing, before).objection_due

    calendar = two_weeks_off(followup)
    wired = published(followup, followup_wire)
    assert {e.type for e in wired} == {"onestop.followup.calendar.published.v1"}
    deliver(routing, "followup", wired)
    assert routing.calendar() == calendar

    after = lead(routing, register(routing))
    assert after.objection_due == calendar.end(after.since, FIVE)
    assert after.objection_due > CHINA.end(after.since, FIVE) + timedelta(days=7)
    assert lead(routing, before).objection_due == given
    assert replayed(routing, before).parties["ninghe-hrss"].objection_due == given


def test_a_publication_heard_again_changes_nothing_and_is_no_case_of_follow_up():
    followup, routing = FollowUpApplication(), seeded(RoutingApplication())
    two_weeks_off(followup)
    wired = published(followup, followup_wire)
    deliver(routing, "followup", wired)
    version = routing.reference(ROUTING_CALENDAR_ID).version
    deliver(routing, "followup", wired, offsets=iter(range(100, 200)))  # republished
    assert routing.reference(ROUTING_CALENDAR_ID).version == version

    deliver(followup, "followup", wired)  # follow-up hears its own topic too
    with pytest.raises(NotFound):
        followup.history(FOLLOWUP_CALENDAR_ID)


def as_stored_before_the_deadline_was(app: RoutingApplication, stored: StoredEvent) -> StoredEvent:
    """The stored event as an earlier release wrote it: no `objection_due`, its departments
    as dicts; an assignment at its first version, before it carried its category, place and
    legal class."""
    transcoder = app.mapper.transcoder
    state = transcoder.decode(stored.state)
    state.pop("objection_due", None)
    state["lead"] = asdict(state["lead"])
    state["co_handlers"] = [asdict(d) for d in state["co_handlers"]]
    if stored.topic.endswith("Assignment.Assigned"):
        for later in ("class_version", "category", "location", "legal_class"):
            state.pop(later)
    elif stored.topic.endswith("Assignment.Dispatched"):
        state.pop("class_version")
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=transcoder.encode(state),
    )


def test_assignments_stored_before_the_deadline_was_in_the_event_keep_what_they_meant():
    then = seeded(RoutingApplication())
    case_id = register(then)
    then.dispatch(by_hand(case_id))
    stored = [
        n
        for n in then.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)
        if str(n.originator_id) == case_id
    ]
    assert [n.topic.rsplit(".", 1)[-1] for n in stored] == ["Assigned", "Dispatched"]

    # today: a longer window, and follow-up published the next two weeks off
    now = RoutingApplication(objection_window=ObjectionWindow(Period(10, "working-days")))
    followup = FollowUpApplication()
    two_weeks_off(followup)
    deliver(now, "followup", published(followup, followup_wire))
    now.recorder.insert_events([as_stored_before_the_deadline_was(then, n) for n in stored])

    old = replayed(now, case_id)
    assert set(old.parties) == {"ninghe-eco"}
    for party in [*old.parties.values(), *then.get_assignment(case_id).parties.values()]:
        assert party.objection_due == CHINA.end(party.since, FIVE)
    assert old.parties == then.get_assignment(case_id).parties
