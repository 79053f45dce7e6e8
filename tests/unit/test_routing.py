"""Routing on the in-memory store: the catalogue's choice, answers, objections, transfers,
the escalation ladder, confidentiality of accusations, recusal and department inboxes."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.routing import wire
from services.routing.application import RoutingApplication
from services.routing.commands import (
    AcceptAssignment,
    DispatchByHand,
    Escalate,
    HoldJointMeeting,
    ObjectToAssignment,
    Recuse,
    ReportPart,
    ReviewObjection,
    TakeOver,
    TakePersonally,
)
from services.routing.domain import PartyState, ReviewOutcome, RoutingRefused
from services.routing.organisation import ORGANISATION_ID, InvalidOrganisation
from shared.calendar import CHINA, Period
from shared.domain import Actor, Trace
from shared.messages import (
    CaseAcceptanceDecided,
    CaseClassified,
    CaseOverdue,
    CaseRegistered,
    CaseRepeated,
)
from shared.territory import Category, Department, DispatchRule, Place, Window, retired
from shared.vocabulary import Stationing
from tests.territory import seeded
from tests.unit.messaging import send

T = Trace("corr-r")
SUPERVISOR = Actor("zhou", "supervisor")
ADMIN = Actor("root", "admin")


def handler(department: str, user: str = "li") -> Actor:
    return Actor(user, "handler", department)


def register(app, category="labour-wages", place=("ninghe", "lutai", "jinxiu"), **extra):
    case_id = str(uuid4())
    send(
        app,
        CaseRegistered(
            case_id=case_id,
            channel="visit",
            subject="s",
            description="d",
            category=category,
            location={"place": place[-1], "path": list(place)},
            registered_at=datetime.now(UTC),
            first_receiver="alice",
            **extra,
        ),
    )
    return case_id


def acceptance(case_id: str, actor: Actor) -> AcceptAssignment:
    return AcceptAssignment(case_id=UUID(case_id), actor=actor, trace=T)


def objection(case_id: str, reason: str, department: str = "ninghe-hrss") -> ObjectToAssignment:
    return ObjectToAssignment(
        case_id=UUID(case_id), reason=reason, actor=handler(department), trace=T
    )


def review(
    case_id: str, department: str, outcome: ReviewOutcome, reason: str, lead: str | None = None
) -> ReviewObjection:
    return ReviewObjection(
        case_id=UUID(case_id),
        department=department,
        outcome=outcome,
        reason=reason,
        lead=lead,
        actor=SUPERVISOR,
        trace=T,
    )


def by_hand(case_id: str, lead: str, reason: str = "r") -> DispatchByHand:
    return DispatchByHand(
        case_id=UUID(case_id), lead=lead, reason=reason, actor=SUPERVISOR, trace=T
    )


@pytest.fixture
def app():
    return seeded(RoutingApplication())


def test_small_matters_stay_in_the_small_grid_and_the_choice_says_why(app):
    street = app.get_assignment(register(app, "urban-management", ("ninghe", "lutai", "yuhe")))
    town = app.get_assignment(register(app, "urban-management", ("ninghe", "fengtai", "x")))
    assert (street.rule_id, street.lead.code) == ("R-07", "lutai-office")
    assert (town.rule_id, town.lead.code) == ("R-06", "ninghe-urban")
    assert street.rule_version == "v1" and "R-07 (v1)" in street.reason
    assert street.status == "awaiting-acceptance"
    assert street.parties["ninghe-urban"].role == "co-handler"


def test_a_case_no_rule_covers_waits_for_manual_dispatch_then_is_dispatched_by_hand(app):
    case_id = register(app, "fishing-rights")
    assert app.get_assignment(case_id).status == "awaiting-manual-dispatch"
    assert [r.case_id for r in app.inbox.manual_queue()[0]] == [case_id]
    a = app.dispatch(by_hand(case_id, "ninghe-eco", reason="ponds"))
    assert (a.status, a.lead.code, a.rule_version) == (
        "awaiting-acceptance",
        "ninghe-eco",
        "by hand",
    )
    assert app.inbox.manual_queue()[1] == 0


def test_a_new_catalogue_version_routes_new_cases_and_keeps_the_old_one_readable(app):
    first = app.get_assignment(register(app, "labour-wages"))
    app.publish_catalogue(
        [DispatchRule("R-40", "labour-wages", "lutai", "lutai-office")],
        "wages in Lutai go to the street office",
        ADMIN,
    )
    second = app.get_assignment(register(app, "labour-wages"))
    assert (first.rule_id, first.rule_version) == ("R-01", "v1")
    assert (second.rule_id, second.rule_version) == ("R-40", "v2")
    assert app.catalogue().release("v1").rules[0].rule_id == "R-01"
    with pytest.raises(InvalidOrganisation) as bad:
        app.publish_catalogue(
            [DispatchRule("R-41", "fishing", "atlantis", "no-such-department")], "typo", ADMIN
        )
    assert [p.field for p in bad.value.problems] == [
        "rules.0.category",
        "rules.0.scope",
        "rules.0.lead",
    ]


def test_the_registry_checks_tiers_windows_and_stationing_and_records_who_changed_it(app):
    with pytest.raises(InvalidOrganisation, match="higher tier"):
        app.define(Place("x1", "某社区", "community", "jinxiu"), ADMIN)
    with pytest.raises(InvalidOrganisation, match="unknown parent"):
        app.define(Place("x2", "某社区", "community", "atlantis"), ADMIN)
    territory = app.define(Place("dongfeng", "东风社区", "community", "fengtai"), ADMIN)
    assert territory.grid(territory.places["dongfeng"]) == "small"
    with pytest.raises(InvalidOrganisation, match="keeps its tier"):
        app.define(Place("dongfeng", "东风社区", "community", "lutai"), ADMIN)
    with pytest.raises(InvalidOrganisation, match="shared by at most 2"):
        app.define(Window("W09", ("ninghe-hrss", "ninghe-eco", "ninghe-edu"), ("A",)), ADMIN)
    with pytest.raises(InvalidOrganisation, match="unknown or retired department 'ghost'"):
        app.define(Window("W09", ("ghost",), ("A",)), ADMIN)
    with pytest.raises(InvalidOrganisation, match="weekdays"):
        app.define(Department("d1", "某局", "ninghe", Stationing.ROTATION), ADMIN)
    territory = app.define(Department("d1", "某局", "ninghe", Stationing.ROTATION, (2,)), ADMIN)
    tuesday = datetime(2026, 11, 24).date()
    assert territory.departments["d1"].present_on(tuesday)
    assert not territory.departments["d1"].present_on(tuesday + timedelta(days=1))
    assert app.events.get(ORGANISATION_ID, desc=True, limit=1).__next__().by == "root"


def test_what_the_catalogue_names_is_not_retired_under_it_and_retired_places_stay_readable(app):
    with pytest.raises(InvalidOrganisation, match="rules R-01, R-02"):
        app.define(retired(app.territory().departments["ninghe-hrss"]), ADMIN)
    with pytest.raises(InvalidOrganisation, match="R-15"):
        app.define(retired(app.territory().categories["neighbour-dispute"]), ADMIN)
    with pytest.raises(InvalidOrganisation, match="retire the places within it first"):
        app.define(retired(app.territory().places["fengtai"]), ADMIN)
    app.define(retired(app.territory().places["dongxin"]), ADMIN)
    assert not app.territory().places["dongxin"].active
    assert app.territory().path("dongxin")[-1].name == "东新村"  # old cases still read it
    app.define(Category("fishing", "渔业", "ponds and fishing rights"), ADMIN)
    app.publish_catalogue(
        [*app.catalogue().rules()[1], DispatchRule("R-50", "fishing", "fengtai", "ninghe-eco")],
        "fishing rights in Fengtai",
        ADMIN,
    )
    assert app.get_assignment(register(app, "fishing", ("ninghe", "fengtai"))).rule_id == "R-50"


def test_objection_within_five_working_days_then_reroute_by_the_catalogue(app):
    case_id = register(app, "property-management", ("ninghe", "lutai", "yuhe"))
    a = app.object(objection(case_id, "the estate is managed by the district", "lutai-office"))
    assert a.status == "objected"
    objected = app.department_inbox("lutai-office", state=PartyState.OBJECTED)[0]
    assert [r.case_id for r in objected] == [case_id]
    a = app.review_objection(review(case_id, "lutai-office", ReviewOutcome.REROUTE, "agreed"))
    assert (a.lead.code, a.rule_id, len(a.transfers)) == ("ninghe-housing", "R-04", 1)
    assert "lutai-office" not in a.parties
    a = app.accept(acceptance(case_id, handler("ninghe-housing", "wang")))
    assert (a.status, a.parties["ninghe-housing"].handler) == ("accepted", "wang")


def test_a_late_or_second_objection_is_refused(app):
    late = seeded(RoutingApplication(clock=lambda: datetime.now(UTC) + timedelta(days=9)))
    case_id = register(late)
    with pytest.raises(RoutingRefused, match="time to object ended"):
        late.object(objection(case_id, "not ours at all"))
    case_id = register(app)
    app.object(objection(case_id, "not ours at all"))
    app.review_objection(review(case_id, "ninghe-hrss", ReviewOutcome.OVERRULE, "wages are HRSS's"))
    with pytest.raises(RoutingRefused, match="binding"):
        app.object(objection(case_id, "still not ours"))


def test_five_working_days_skip_the_weekend_and_the_national_holidays():
    friday = datetime(2026, 11, 20, 2, tzinfo=UTC)  # 10:00 in Tianjin
    due = CHINA.end(friday, Period(5, "working-days")).astimezone(CHINA.zone)
    assert (due.date(), due.hour, due.minute) == (date(2026, 11, 27), 23, 59)
    # 2026-09-30 (Wed) + 5 working days: Oct 1–7 are off, Sat Oct 10 is a make-up working day
    before_national_day = datetime(2026, 9, 30, 1, tzinfo=UTC)
    due = CHINA.end(before_national_day, Period(5, "working-days")).astimezone(CHINA.zone)
    assert due.date() == date(2026, 10, 13)  # Oct 8, 9, 10 (Sat), 12, 13


def test_ping_pong_is_escalated_to_a_joint_meeting_never_looped(app):
    case_id = register(app, "fishing-rights")
    app.dispatch(by_hand(case_id, "ninghe-eco"))
    for current, nxt in [("ninghe-eco", "ninghe-planning"), ("ninghe-planning", "ninghe-urban")]:
        app.object(objection(case_id, "outside our remit", current))
        app.review_objection(review(case_id, current, ReviewOutcome.REROUTE, "try them", lead=nxt))
    app.object(objection(case_id, "outside our remit", "ninghe-urban"))
    a = app.review_objection(
        review(case_id, "ninghe-urban", ReviewOutcome.REROUTE, "back to eco", lead="ninghe-eco")
    )
    assert a.lead.code == "ninghe-urban"  # not moved a third time
    assert (a.level, a.escalations[-1].trigger) == ("joint-meeting", "ping-pong")
    a = app.hold_joint_meeting(
        HoldJointMeeting(
            case_id=UUID(case_id),
            chair="副区长",
            departments=("ninghe-eco", "ninghe-urban"),
            minutes="heard both",
            decisions=("eco leads",),
            lead="ninghe-eco",
            co_handlers=("ninghe-urban",),
            actor=SUPERVISOR,
            trace=T,
        )
    )
    assert (a.lead.code, a.parties["ninghe-eco"].binding) == ("ninghe-eco", "joint-meeting")
    with pytest.raises(RoutingRefused, match="binding"):
        app.object(objection(case_id, "still not ours", "ninghe-eco"))


def test_the_ladder_window_joint_meeting_leader_and_its_triggers(app):
    group = app.get_assignment(register(app, group_size=30))
    assert (group.level, group.escalations[0].trigger) == ("joint-meeting", "group")
    case_id = register(app)
    with pytest.raises(RoutingRefused, match="joint meeting first"):
        app.hold_joint_meeting(
            HoldJointMeeting(
                case_id=UUID(case_id),
                chair="c",
                departments=("ninghe-hrss", "ninghe-civil"),
                minutes="m",
                decisions=("d",),
                actor=SUPERVISOR,
                trace=T,
            )
        )
    send(
        app,
        CaseRepeated(
            case_id=case_id,
            outcome="linked",
            channel="phone",
            repeat_count=1,
            repeated_at=datetime.now(UTC),
        ),
    )
    send(
        app,
        CaseOverdue(case_id=case_id, deadline="resolution", due_at=datetime.now(UTC)),
        "followup",
    )
    a = app.get_assignment(case_id)
    assert [(e.level, e.trigger) for e in a.escalations] == [
        ("joint-meeting", "repeat"),
        ("leader", "overdue"),
    ]
    lin = Actor("lin", "leader")
    a = app.take_personally(
        TakePersonally(case_id=UUID(case_id), note="I will see the petitioner", actor=lin, trace=T)
    )
    assert a.leader.user == "lin"
    with pytest.raises(RoutingRefused, match="already"):
        app.escalate(Escalate(case_id=UUID(case_id), reason="more", actor=SUPERVISOR, trace=T))


def test_an_accusation_never_reaches_or_is_shown_to_the_accused_unit(app):
    case_id = register(app, "labour-wages")
    assert app.get_assignment(case_id).lead.code == "ninghe-hrss"
    send(
        app,
        CaseClassified(
            case_id=case_id,
            legal_class="accusation",
            litigation_related=False,
            accused="宁河区人力资源和社会保障局 劳动监察大队",
            classified_at=datetime.now(UTC),
        ),
    )
    a = app.get_assignment(case_id)
    assert (a.lead.code, a.rule_id) == ("ninghe-discipline", "R-90")
    assert a.barred == {"ninghe-hrss"} and not a.visible_to("ninghe-hrss")
    assert app.department_inbox("ninghe-hrss")[1] == 0
    with pytest.raises(RoutingRefused, match=r"Art\. 30"):
        app.dispatch(by_hand(case_id, "ninghe-hrss"))
    with pytest.raises(RoutingRefused, match="no part"):
        app.accept(acceptance(case_id, handler("ninghe-hrss")))


def test_a_handler_with_a_conflict_is_replaced_and_cannot_take_it_back(app):
    case_id, li, zhao = (
        UUID(register(app)),
        handler("ninghe-hrss", "li"),
        handler("ninghe-hrss", "zhao"),
    )
    app.accept(AcceptAssignment(case_id=case_id, actor=li, trace=T))
    a = app.recuse(Recuse(case_id=case_id, reason="the employer is my cousin", actor=li, trace=T))
    assert a.parties["ninghe-hrss"].state == "awaiting-handler"
    with pytest.raises(RoutingRefused, match="conflict of interest"):
        app.take_over(TakeOver(case_id=case_id, actor=li, trace=T))
    a = app.take_over(TakeOver(case_id=case_id, actor=zhao, trace=T))
    assert (a.status, a.parties["ninghe-hrss"].handler) == ("accepted", "zhao")


def test_co_handlers_report_their_part_to_the_lead(app):
    case_id = UUID(register(app, "social-security", ("ninghe", "qiaobei", "xinhua")))
    sun = handler("ninghe-civil", "sun")
    with pytest.raises(RoutingRefused, match="once it accepted"):
        app.report_part(ReportPart(case_id=case_id, summary="done", actor=sun, trace=T))
    app.accept(AcceptAssignment(case_id=case_id, actor=sun, trace=T))
    a = app.report_part(ReportPart(case_id=case_id, summary="subsidy restored", actor=sun, trace=T))
    assert a.parties["ninghe-civil"].parts[0].summary == "subsidy restored"


def test_a_declined_matter_is_withdrawn_from_the_departments(app):
    case_id = register(app)
    send(
        app,
        CaseAcceptanceDecided(
            case_id=case_id,
            decision="divert",
            diverted_to="court",
            notice_required=True,
            decided_at=datetime.now(UTC),
        ),
    )
    a = app.get_assignment(case_id)
    assert a.status == "withdrawn" and "diverted to court" in a.reason
    assert app.department_inbox("ninghe-hrss", state=PartyState.RELEASED)[1] == 1
    with pytest.raises(RoutingRefused, match="declined or diverted"):
        app.accept(acceptance(case_id, handler("ninghe-hrss")))


def test_inbox_filters_and_pages_newest_first(app):
    ids = [register(app) for _ in range(5)]
    app.accept(acceptance(ids[0], handler("ninghe-hrss")))
    waiting = PartyState.AWAITING_ACCEPTANCE
    page, total = app.department_inbox("ninghe-hrss", state=waiting, limit=2)
    assert total == 4 and [r.case_id for r in page] == [ids[4], ids[3]]
    page, _ = app.department_inbox("ninghe-hrss", state=waiting, limit=2, offset=2)
    assert [r.case_id for r in page] == [ids[2], ids[1]]
    accepted = app.department_inbox("ninghe-hrss", state=PartyState.ACCEPTED)[0]
    assert accepted[0].case_id == ids[0]


def test_every_hand_off_goes_on_the_wire_in_order(app):
    case_id = register(app, "property-management", ("ninghe", "lutai", "yuhe"))
    app.object(objection(case_id, "district estate", "lutai-office"))
    app.review_objection(review(case_id, "lutai-office", ReviewOutcome.REROUTE, "ok"))
    app.escalate(
        Escalate(case_id=UUID(case_id), reason="petitioner insists", actor=SUPERVISOR, trace=T)
    )
    notes = app.recorder.select_notifications(start=0, limit=1000)
    events = [wire.to_cloudevent(app.mapper.to_domain_event(n)) for n in notes]
    mine = [e for e in events if e is not None and e.subject == case_id]
    assert [e.type.split(".")[3] for e in mine] == ["assigned", "answered", "assigned", "escalated"]
    assert mine[1].data["answer"] == "objected" and mine[2].data["trigger"] == "objection"
    assert mine[2].data["transfers"] == 1
    assert all(  # the relay skips, undecoded, exactly what would not go on the wire
        wire.publishes(n.topic) == (wire.to_cloudevent(app.mapper.to_domain_event(n)) is not None)
        for n in notes
    )


def test_a_joint_meeting_that_confirms_the_lead_binds_it_too(app):
    case_id = register(app)
    app.escalate(Escalate(case_id=UUID(case_id), reason="disputed", actor=SUPERVISOR, trace=T))
    app.hold_joint_meeting(
        HoldJointMeeting(
            case_id=UUID(case_id),
            chair="副区长",
            departments=("ninghe-hrss", "ninghe-civil"),
            minutes="heard both",
            decisions=("HRSS keeps it",),
            lead="ninghe-hrss",
            actor=SUPERVISOR,
            trace=T,
        )
    )
    with pytest.raises(RoutingRefused, match="binding"):
        app.object(objection(case_id, "still not ours"))


def test_a_registry_another_process_changed_is_read_anew_and_never_changed_under_a_reader(
    app,
):
    held = app.organisation()  # e.g. a listing half-way through its departments
    before = dict(held.territory.departments)
    # another process (a second replica, an operator's script) saves a change: this
    # process's cache did not see it happen
    elsewhere = app._reference(ORGANISATION_ID, to_change=True)
    assert elsewhere is not held
    elsewhere.define(Department("d1", "某局", "ninghe", Stationing.ROTATION, (2,)), by="root")
    app.events.put(elsewhere.collect_events())

    # it is read anew once what the cache holds is older than the freshness interval
    later = app.monotonic() + app.REFERENCE_FRESH_SECONDS + 0.1
    app.monotonic = lambda: later
    now = app.organisation()
    assert "d1" in now.territory.departments and now.version == held.version + 1
    assert held.territory.departments == before and "d1" not in held.territory.departments
    assert app.organisation() is now  # the new state is what the cache holds from now on


def test_a_batch_reads_the_registry_as_another_process_left_it_asking_once_for_all(app):
    """Each batch of records reads reference data as it stands when the batch begins —
    a change another process saved included — and asks the store once for everything it
    read before, not once per registry, catalogue and calendar (routing reads them for
    every case: a batch of one case asked three or four times)."""
    app.organisation(), app.catalogue(), app.calendar()  # what routing has read before
    elsewhere = app._reference(ORGANISATION_ID, to_change=True)
    elsewhere.define(Department("d2", "某局", "ninghe", Stationing.ROTATION, (2,)), by="root")
    app.events.put(elsewhere.collect_events())

    asked = {"together": 0, "one by one": 0}
    select_after, select = app.recorder.select_events_after, app.recorder.select_events
    within = []  # the in-memory recorder reads "together" one by one itself

    def together(after):
        asked["together"] += 1
        within.append(True)
        try:
            return select_after(after)
        finally:
            within.pop()

    def one_by_one(*args, **kwargs):
        asked["one by one"] += not within
        return select(*args, **kwargs)

    app.recorder.select_events_after, app.recorder.select_events = together, one_by_one
    with app.batched():
        seen = app.organisation()
        app.catalogue(), app.calendar(), app.territory(), app.organisation()
    assert "d2" in seen.territory.departments  # no freshness interval passed: the batch read it
    assert asked == {"together": 1, "one by one": 0}
    # and outside a batch, the cache holds the new state from now on
    assert app.organisation() is seen
