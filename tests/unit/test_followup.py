"""Follow-up on in-memory stores, with a clock the tests move: months of deadlines in seconds."""

import json
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.followup import wire
from services.followup.application import FollowUpApplication
from services.followup.commands import (
    ApproveLongTermPlan,
    CloseOut,
    DecideReview,
    ExtendDeadline,
    FilePlan,
    IssueSupervisionNotice,
    PauseClocks,
    PublishHolidays,
    RateByCode,
    RecordCeaseCommitment,
    RecordOutcome,
    RecordReturnVisit,
    RecordVisit,
    ReportProgress,
    RequestReview,
    ResumeClocks,
)
from services.followup.domain import Deadline, FollowUpRefused
from services.followup.domain.vocabulary import (
    DeadlineKind,
    Opinion,
    OutcomeForm,
    ReviewDecision,
    ReviewLevel,
    Satisfaction,
    VisitKind,
)
from services.followup.ledger import Facts, StatisticsQuery, statistics
from services.followup.policy import STANDARD, load_policy
from services.routing.application import RoutingApplication
from shared.calendar import CHINA, Period
from shared.casecode import case_code, code_hash
from shared.clock import OffsetClock, set_offset
from shared.domain import Actor, Trace
from shared.http import NotFound
from shared.messages import (
    CaseAcceptanceDecided,
    CaseAssigned,
    CaseFinal,
    CaseOverdue,
    CaseRegistered,
    CaseRepeated,
    Department,
    PartReported,
    VisitRecorded,
    parse,
)
from shared.territory import Statistics
from shared.vocabulary import Cessation, ClosureBase, Resolution
from tests.territory import seeded, territory
from tests.unit.messaging import Clock, send

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Tianjin
HRSS = {"code": "ninghe-hrss", "name": "宁河区人力资源和社会保障局"}
STREET = {"code": "lutai-office", "name": "芦台街道办事处"}
LEAD = Actor("li", "handler", "ninghe-hrss")
SUPERVISOR = Actor("zhou", "supervisor")
LEADER = Actor("lin", "leader")
CLERK = Actor("alice", "clerk")
T = Trace("corr-f")
KEY = b"k" * 32


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def app(clock):
    return seeded(FollowUpApplication(clock=clock))


def registration(case_id: str, at: datetime, **extra) -> CaseRegistered:
    return CaseRegistered(
        case_id=case_id,
        channel="visit",
        subject="装修公司拖欠工资",
        description="四个月工资未发",
        category="labour-wages",
        location={"place": "yuhe", "path": ["ninghe", "lutai", "yuhe"]},
        registered_at=at,
        first_receiver="alice",
        lookup_code_hash=code_hash(case_code(KEY, UUID(case_id))),
        **extra,
    )


def registered(app, clock, **extra) -> str:
    case_id = str(uuid4())
    send(app, registration(case_id, clock.now, **extra), at=clock.now)
    return case_id


def assign(app, clock, case_id, lead=HRSS, co=()) -> None:
    send(
        app,
        CaseAssigned(
            case_id=case_id,
            lead=Department(**lead),
            co_handlers=[Department(**c) for c in co],
            rule_id="R-01",
            rule_version="v1",
            reason="rule R-01",
            assigned_at=clock.now,
        ),
        "routing",
        at=clock.now,
    )


def accept(app, clock, case_id) -> None:
    send(
        app,
        CaseAcceptanceDecided(
            case_id=case_id, decision="accept", notice_required=True, decided_at=clock.now
        ),
        at=clock.now,
    )


def wired(app, since: int = 0) -> list:
    """Follow-up's published messages since a notification id, parsed as consumers would."""
    found = []
    for n in app.recorder.select_notifications(start=since, limit=1000, inclusive_of_start=False):
        event = wire.to_cloudevent(app.mapper.to_domain_event(n))
        if event:
            found.append(parse(event.type, event.data))
    return found


def position(app) -> int:
    return app.recorder.max_notification_id() or 0


def due(app, case_id, kind) -> Deadline:
    [d] = [d for d in app.get_case(case_id).running((DeadlineKind(kind),))]
    return d


# --- the deadline engine ------------------------------------------------------------------


def test_assignment_puts_the_13710_clocks_and_acceptance_the_60_day_clock_on_the_case(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    accept(app, clock, case_id)
    dues = {d.kind: d.due_at for d in app.get_case(case_id).running()}
    assert dues == {
        "handling-plan": T0 + timedelta(days=1),
        "first-report": T0 + timedelta(days=3),
        "resolution": T0 + timedelta(days=7),
        "statutory-handling": T0 + timedelta(days=60),
    }
    assert due(app, case_id, "resolution").department == "ninghe-hrss"
    policy = {c["kind"] for c in app.policy.as_dict()["clocks"]}
    assert {"review-decision", "re-review-decision", "monthly-report", "return-visit"} <= policy


def test_working_days_skip_weekends_and_holidays_and_an_admin_publishes_a_new_year(app):
    after_national_day = CHINA.end(datetime(2026, 9, 30, 1, tzinfo=UTC), Period(5, "working-days"))
    assert after_national_day.astimezone(CHINA.zone).date() == date(2026, 10, 13)
    month_end = CHINA.end(datetime(2026, 1, 31, 2, tzinfo=UTC), Period(1, "months"))
    assert month_end.astimezone(CHINA.zone).date() == date(2026, 2, 28)

    new_year = datetime(2026, 12, 31, 1, tzinfo=UTC)
    before = app.rules().calendar.end(new_year, Period(1, "working-days"))
    assert before.astimezone(CHINA.zone).date() == date(2027, 1, 1)  # unpublished: a Friday
    admin = Actor("root", "admin")
    app.publish_holidays(
        PublishHolidays(year=2027, holidays=(date(2027, 1, 1),), actor=admin, trace=T)
    )
    after = app.rules().calendar.end(new_year, Period(1, "working-days"))
    assert after.astimezone(CHINA.zone).date() == date(2027, 1, 4)
    with pytest.raises(FollowUpRefused) as refused:
        app.publish_holidays(
            PublishHolidays(year=2027, holidays=(date(2028, 1, 1),), actor=admin, trace=T)
        )
    assert refused.value.field == "holidays.0"


def test_a_reminder_goes_before_the_deadline_and_each_alarm_fires_once(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    app.file_plan(
        FilePlan(case_id=UUID(case_id), summary="约谈用人单位", major=False, actor=LEAD, trace=T)
    )
    app.report_progress(
        ReportProgress(case_id=UUID(case_id), summary="已约谈", actor=LEAD, trace=T)
    )
    start = position(app)
    clock.advance(days=5, hours=1)  # the 7-day resolution is 2 days off: its reminder
    assert app.fire_due() == 1
    assert app.fire_due() == 0  # never twice
    [reminder] = wired(app, start)
    assert (reminder.kind, reminder.department) == ("resolution", "ninghe-hrss")
    assert reminder.due_at == T0 + timedelta(days=7)


def test_a_breach_that_came_before_its_reminder_leaves_nothing_due(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    clock.advance(days=4)  # down over the plan's and the first report's reminders and due times
    assert app.fire_due() == 2  # the two breaches; no reminder after the fact
    assert UUID(case_id) not in app.ledger.due(clock())
    assert app.fire_due() == 0
    assert app.get_case(UUID(case_id)).next_alarm() == due(app, case_id, "resolution").remind_at


def test_a_paused_clock_does_not_count_the_hearing(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    clock.advance(days=2)
    app.pause_clocks(PauseClocks(case_id=UUID(case_id), reason="听证会", actor=SUPERVISOR, trace=T))
    clock.advance(days=10)
    assert app.fire_due() == 0  # paused clocks do not fire
    app.resume_clocks(ResumeClocks(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    assert due(app, case_id, "resolution").due_at == T0 + timedelta(days=17)
    with pytest.raises(FollowUpRefused, match="not paused"):
        app.resume_clocks(ResumeClocks(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))


def test_one_extension_of_at_most_30_days_approved_by_a_leader(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    accept(app, clock, case_id)
    with pytest.raises(FollowUpRefused) as refused:
        app.extend(
            ExtendDeadline(
                case_id=UUID(case_id),
                kind=DeadlineKind.STATUTORY_HANDLING,
                days=31,
                reason="仲裁未结",
                actor=LEADER,
                trace=T,
            )
        )
    assert refused.value.field == "days"
    with pytest.raises(FollowUpRefused, match="cannot be extended"):
        app.extend(
            ExtendDeadline(
                case_id=UUID(case_id),
                kind=DeadlineKind.RESOLUTION,
                days=5,
                reason="x",
                actor=LEADER,
                trace=T,
            )
        )
    app.extend(
        ExtendDeadline(
            case_id=UUID(case_id),
            kind=DeadlineKind.STATUTORY_HANDLING,
            days=30,
            reason="等待劳动仲裁结果",
            actor=LEADER,
            trace=T,
        )
    )
    assert due(app, case_id, "statutory-handling").due_at == T0 + timedelta(days=90)
    with pytest.raises(FollowUpRefused, match="already extended once"):
        app.extend(
            ExtendDeadline(
                case_id=UUID(case_id),
                kind=DeadlineKind.STATUTORY_HANDLING,
                days=1,
                reason="再延",
                actor=LEADER,
                trace=T,
            )
        )


def test_a_missed_report_gets_a_supervision_notice_and_a_missed_resolution_escalates(app, clock):
    routing = seeded(RoutingApplication(clock=clock))
    case_id = registered(app, clock)
    send(routing, registration(case_id, clock.now))
    assign(app, clock, case_id)
    start = position(app)
    clock.advance(days=1, minutes=1)
    app.fire_due()
    messages = wired(app, start)
    overdue = [m for m in messages if isinstance(m, CaseOverdue)]
    assert [(m.deadline, m.escalate) for m in overdue] == [("handling-plan", False)]
    notices = app.get_case(case_id).notices
    assert [(n.department, n.automatic) for n in notices] == [("ninghe-hrss", True)]

    app.issue_supervision_notice(
        IssueSupervisionNotice(
            case_id=UUID(case_id),
            text="请于周五前报送方案",
            department=None,
            actor=SUPERVISOR,
            trace=T,
        )
    )
    assert [n.number for n in app.get_case(case_id).notices] == [1, 2]

    clock.advance(days=7)
    start = position(app)
    app.fire_due()
    overdue = [m for m in wired(app, start) if isinstance(m, CaseOverdue)]
    assert [(m.deadline, m.escalate) for m in overdue] == [
        ("first-report", False),
        ("resolution", True),
    ]
    for message in overdue:
        send(routing, message, "followup")
    assert routing.get_assignment(case_id).level == "joint-meeting"  # climbed once


# --- handling to an outcome, return visits, close-out -----------------------------------------


def test_the_outcome_waits_for_the_co_handlers_parts(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id, co=(STREET,))
    with pytest.raises(FollowUpRefused) as refused:
        app.record_outcome(
            RecordOutcome(
                case_id=UUID(case_id),
                form=OutcomeForm.OPINION,
                opinion=Opinion.SUPPORT,
                summary="已支付",
                actor=LEAD,
                trace=T,
            )
        )
    assert refused.value.field == "parts" and "lutai-office" in str(refused.value)
    send(
        app,
        PartReported(
            case_id=case_id,
            department=Department(**STREET),
            summary="已现场核实",
            reported_at=clock.now,
        ),
        "routing",
    )
    with pytest.raises(FollowUpRefused) as refused:
        app.record_outcome(
            RecordOutcome(
                case_id=UUID(case_id),
                form=OutcomeForm.OPINION,
                summary="x",
                opinion=None,
                actor=LEAD,
                trace=T,
            )
        )
    assert refused.value.field == "opinion"
    other = Actor("wu", "handler", "lutai-office")
    with pytest.raises(FollowUpRefused, match="only the lead"):
        app.record_outcome(
            RecordOutcome(
                case_id=UUID(case_id),
                form=OutcomeForm.AGREEMENT,
                opinion=None,
                summary="x",
                actor=other,
                trace=T,
            )
        )
    case = app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.AGREEMENT,
            opinion=None,
            summary="双方达成调解协议",
            actor=LEAD,
            trace=T,
        )
    )
    assert case.status == "resolved"
    assert case.outcomes[0].parts == {"lutai-office": "已现场核实"}


def test_missed_deadline_escalated_resolved_unsatisfied_reopened_resolved_again_closed_out(
    app, clock
):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    app.file_plan(
        FilePlan(case_id=UUID(case_id), summary="约谈用人单位", major=False, actor=LEAD, trace=T)
    )
    app.report_progress(
        ReportProgress(case_id=UUID(case_id), summary="已约谈", actor=LEAD, trace=T)
    )
    clock.advance(days=8)
    app.fire_due()
    resolution = app.get_case(case_id).deadlines
    assert [d.state_at(clock.now) for d in resolution if d.kind == "resolution"] == ["overdue"]

    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="已支付一半",
            actor=LEAD,
            trace=T,
        )
    )
    with pytest.raises(FollowUpRefused, match="return visit"):
        app.close_out(CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    case = app.record_return_visit(
        RecordReturnVisit(
            case_id=UUID(case_id),
            satisfaction=Satisfaction.UNSATISFIED,
            notes="只付了一半",
            actor=CLERK,
            trace=T,
        )
    )
    assert (case.status, case.round) == ("reopened", 2)
    again = [d for d in case.running((DeadlineKind.RESOLUTION,))]
    assert [d.due_at for d in again] == [clock.now + timedelta(days=7)]

    clock.advance(days=3)
    app.report_progress(
        ReportProgress(case_id=UUID(case_id), summary="督促支付余款", actor=LEAD, trace=T)
    )
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="余款已付清",
            actor=LEAD,
            trace=T,
        )
    )
    app.record_return_visit(
        RecordReturnVisit(
            case_id=UUID(case_id),
            satisfaction=Satisfaction.SATISFIED,
            notes="",
            actor=CLERK,
            trace=T,
        )
    )
    app.record_cease_commitment(
        RecordCeaseCommitment(case_id=UUID(case_id), note="回访时签署", actor=CLERK, trace=T)
    )
    case = app.close_out(CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    assert case.status == "closed-out"
    assert case.closed_out.basis == "return visit: satisfied"
    assert not case.running()  # nothing left to chase
    assert [type(m).__name__ for m in wired(app)][-1] == "DeadlinesSuperseded"


def test_a_cease_commitment_lets_a_basically_unsatisfied_case_close_but_not_an_unrated_one(
    app, clock
):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.EXPLAIN,
            summary="政策解释",
            actor=LEAD,
            trace=T,
        )
    )
    with pytest.raises(FollowUpRefused, match="no return visit yet"):
        app.close_out(CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    app.record_cease_commitment(
        RecordCeaseCommitment(
            case_id=UUID(case_id), note="签署息诉罢访承诺书", actor=CLERK, trace=T
        )
    )
    assert app.close_out(
        CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T)
    ).closed_out.basis.startswith("cease")


# --- the petitioner with the case code -----------------------------------------------------


def test_the_petitioner_looks_up_and_rates_with_the_case_code_and_sees_no_one_elses(app, clock):
    mine, theirs = str(uuid4()), str(uuid4())
    for case_id in (mine, theirs):
        send(app, registration(case_id, clock.now))
        assign(app, clock, case_id)
    code = case_code(KEY, UUID(mine))
    assert len(code) == 14 and code.count("-") == 2
    assert app.case_by_code(code.lower().replace("-", " ")).id == app.get_case(mine).id
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(mine),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="已解决",
            actor=LEAD,
            trace=T,
        )
    )
    case = app.rate_by_code(RateByCode(code=code, satisfaction=Satisfaction.BASICALLY_SATISFIED))
    assert case.ratings[0].source == "petitioner"
    with pytest.raises(FollowUpRefused, match="already rated"):
        app.rate_by_code(RateByCode(code=code, satisfaction=Satisfaction.SATISFIED))
    with pytest.raises(NotFound):
        app.case_by_code("AAAA-BBBB-CCCC")


# --- review and re-review -------------------------------------------------------------------


def test_review_then_re_review_each_within_30_days_then_final(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    with pytest.raises(FollowUpRefused, match="none yet"):
        app.request_review(
            RequestReview(
                case_id=UUID(case_id),
                level=ReviewLevel.REVIEW,
                organ="宁河区人民政府",
                reason="不服",
                actor=CLERK,
                trace=T,
            )
        )
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.NOT_SUPPORT,
            summary="不予支持",
            actor=LEAD,
            trace=T,
        )
    )
    clock.advance(days=20)
    case = app.request_review(
        RequestReview(
            case_id=UUID(case_id),
            level=ReviewLevel.REVIEW,
            organ="宁河区人民政府",
            reason="加班费未计",
            actor=CLERK,
            trace=T,
        )
    )
    assert case.status == "under-review"
    assert due(app, case_id, "review-decision").due_at == clock.now + timedelta(days=30)
    with pytest.raises(FollowUpRefused, match="follows a decided review"):
        app.request_review(
            RequestReview(
                case_id=UUID(case_id),
                level=ReviewLevel.RE_REVIEW,
                organ="天津市人民政府",
                reason="x",
                actor=CLERK,
                trace=T,
            )
        )
    clock.advance(days=25)
    app.decide_review(
        DecideReview(
            case_id=UUID(case_id),
            decision=ReviewDecision.UPHELD,
            summary="维持原处理意见",
            actor=SUPERVISOR,
            trace=T,
        )
    )
    clock.advance(days=31)  # the re-review window has closed
    with pytest.raises(FollowUpRefused, match="within 30 days"):
        app.request_review(
            RequestReview(
                case_id=UUID(case_id),
                level=ReviewLevel.RE_REVIEW,
                organ="天津市人民政府",
                reason="仍不服",
                actor=CLERK,
                trace=T,
            )
        )


def test_a_re_review_decision_is_final_and_later_attempts_are_refused(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.NOT_SUPPORT,
            summary="不予支持",
            actor=LEAD,
            trace=T,
        )
    )
    app.request_review(
        RequestReview(
            case_id=UUID(case_id),
            level=ReviewLevel.REVIEW,
            organ="宁河区人民政府",
            reason="不服",
            actor=CLERK,
            trace=T,
        )
    )
    app.decide_review(
        DecideReview(
            case_id=UUID(case_id),
            decision=ReviewDecision.UPHELD,
            summary="维持",
            actor=SUPERVISOR,
            trace=T,
        )
    )
    app.request_review(
        RequestReview(
            case_id=UUID(case_id),
            level=ReviewLevel.RE_REVIEW,
            organ="天津市人民政府",
            reason="仍不服",
            actor=CLERK,
            trace=T,
        )
    )
    app.pause_clocks(
        PauseClocks(case_id=UUID(case_id), reason="复核听证", actor=SUPERVISOR, trace=T)
    )
    clock.advance(days=5)
    app.resume_clocks(ResumeClocks(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    assert due(app, case_id, "re-review-decision").due_at == T0 + timedelta(days=35)
    start = position(app)
    case = app.decide_review(
        DecideReview(
            case_id=UUID(case_id),
            decision=ReviewDecision.UPHELD,
            summary="复核维持，终结",
            actor=LEADER,
            trace=T,
        )
    )
    assert case.status == "final"
    assert not case.running()  # the unanswered return visit is not chased after the end
    final = [m for m in wired(app, start) if isinstance(m, CaseFinal)]
    assert [m.summary for m in final] == ["复核维持，终结"]
    with pytest.raises(FollowUpRefused, match="第三十六条"):
        app.request_review(
            RequestReview(
                case_id=UUID(case_id),
                level=ReviewLevel.REVIEW,
                organ="宁河区人民政府",
                reason="again",
                actor=CLERK,
                trace=T,
            )
        )


# --- visits, for as long as the petitioner needs them ------------------------------------------


def visit(case_id: str, actor: Actor = CLERK, **over) -> RecordVisit:
    fields = {
        "kind": VisitKind.VISIT,
        "visited_by": "芦台街道 王主任",
        "visited_at": None,
        "summary": "已复工，无新诉求",
    }
    return RecordVisit(case_id=UUID(case_id), actor=actor, trace=T, **{**fields, **over})


def closed_out(app, clock) -> str:
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(case_id),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="已支付",
            actor=LEAD,
            trace=T,
        )
    )
    app.record_return_visit(
        RecordReturnVisit(
            case_id=UUID(case_id), satisfaction=Satisfaction.SATISFIED, actor=CLERK, trace=T
        )
    )
    app.close_out(CloseOut(case_id=UUID(case_id), actor=SUPERVISOR, trace=T))
    return case_id


def test_visits_are_recorded_after_close_out_and_once_the_matter_is_final(app, clock):
    case_id = closed_out(app, clock)
    with pytest.raises(FollowUpRefused, match="closed-out"):  # the handling is over…
        app.report_progress(
            ReportProgress(case_id=UUID(case_id), summary="再次约谈", actor=LEAD, trace=T)
        )
    clock.advance(days=200)  # …the petitioner is still visited, months later
    case = app.record_visit(visit(case_id))
    yesterday = clock.now - timedelta(days=1)
    case = app.record_visit(
        visit(
            case_id,
            LEAD,
            kind=VisitKind.RETURN_CALL,
            visited_by="李科长",
            visited_at=yesterday,
            summary="电话回访，工资已全部结清",
        )
    )
    assert case.status == "closed-out" and not case.running()  # no clock started
    assert [(v.kind, v.visited_by, v.visited_at, v.recorded_by) for v in case.visits] == [
        ("visit", "芦台街道 王主任", clock.now, "alice"),
        ("return-call", "李科长", yesterday, "li"),
    ]

    final = registered(app, clock)
    assign(app, clock, final)
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(final),
            form=OutcomeForm.OPINION,
            opinion=Opinion.NOT_SUPPORT,
            summary="不予支持",
            actor=LEAD,
            trace=T,
        )
    )
    for level, decision_by in ((ReviewLevel.REVIEW, SUPERVISOR), (ReviewLevel.RE_REVIEW, LEADER)):
        app.request_review(
            RequestReview(
                case_id=UUID(final),
                level=level,
                organ="人民政府",
                reason="不服",
                actor=CLERK,
                trace=T,
            )
        )
        app.decide_review(
            DecideReview(
                case_id=UUID(final),
                decision=ReviewDecision.UPHELD,
                summary="维持",
                actor=decision_by,
                trace=T,
            )
        )
    clock.advance(days=400)
    case = app.record_visit(visit(final, SUPERVISOR, summary="仍有情绪，已做疏导"))
    assert case.status == "final"
    assert [v.summary for v in case.visits] == ["仍有情绪，已做疏导"]
    [told] = [m for m in wired(app) if isinstance(m, VisitRecorded) and m.case_id == final]
    assert (told.kind, told.visited_at, told.summary) == ("visit", clock.now, "仍有情绪，已做疏导")


def test_a_visit_is_refused_naming_the_field_and_nothing_is_written(app, clock):
    case_id = closed_out(app, clock)
    before = position(app)
    refusals = {
        "summary": visit(case_id, summary="   "),
        "visited_by": visit(case_id, visited_by=" "),
        "visited_at": visit(case_id, visited_at=clock.now + timedelta(hours=1)),
        "department": visit(case_id, Actor("wu", "handler", "lutai-office")),
    }
    for field, command in refusals.items():
        with pytest.raises(FollowUpRefused) as refused:
            app.record_visit(command)
        assert refused.value.field == field
    with pytest.raises(FollowUpRefused, match="before the case was registered") as refused:
        app.record_visit(visit(case_id, visited_at=T0 - timedelta(days=1)))
    assert refused.value.field == "visited_at"
    assert position(app) == before
    assert app.get_case(case_id).visits == []


# --- statistics ------------------------------------------------------------------------------


def fact(n: int, lead: str, street: str, **over) -> Facts:
    base = {
        "case_id": uuid4(),
        "registered_at": T0 + timedelta(days=n),
        "channel": "visit",
        "lead": lead,
        "path": ("ninghe", street),
        "status": "assigned",
        "declined": False,
        "notice_due": T0 + timedelta(days=n + 15),
        "notice_met": T0 + timedelta(days=n + 1),
        "first_outcome_at": None,
        "outcome_on_time": False,
        "closed_out": False,
        "satisfaction": None,
        "rated": False,
        "ceased": False,
        "repeats": (),
        "repeat_after_outcome": False,
        "first_round_settled_at_window": False,
        "breaches": (),
    }
    return Facts(**{**base, **over})


def test_statistics_match_a_hand_count(clock):
    done = {"first_outcome_at": T0 + timedelta(days=20)}
    facts = [
        # hrss: 4 cases. 3 with an outcome (2 on time); ratings: satisfied, unsatisfied;
        # one ceased by commitment; one came again after its outcome; one notice late.
        fact(
            1,
            "hrss",
            "lutai",
            **done,
            outcome_on_time=True,
            satisfaction="satisfied",
            rated=True,
            closed_out=True,
            first_round_settled_at_window=True,
        ),
        fact(
            2,
            "hrss",
            "lutai",
            **done,
            outcome_on_time=True,
            satisfaction="unsatisfied",
            rated=True,
            repeats=(T0 + timedelta(days=25),),
            repeat_after_outcome=True,
        ),
        fact(
            3,
            "hrss",
            "qiaobei",
            **done,
            ceased=True,
            breaches=(("resolution", T0 + timedelta(days=10)),),
        ),
        fact(4, "hrss", "qiaobei", notice_met=T0 + timedelta(days=30)),
        # housing: 2 cases, one declined, none answered
        fact(5, "housing", "lutai", declined=True),
        fact(6, "housing", "lutai"),
        # outside the period
        fact(40, "hrss", "lutai", **done),
    ]
    clock.now = T0 + timedelta(days=60)
    found = statistics(
        facts,
        StatisticsQuery(
            T0, T0 + timedelta(days=30), "department", clock.now, territory(), Statistics()
        ),
    )
    hrss = next(g for g in found if g["group"] == "hrss")
    rates = {
        k: (v["numerator"], v["denominator"])
        for k, v in hrss.items()
        if isinstance(v, dict) and "rate" in v
    }
    assert hrss["cases"] == 4
    assert rates == {
        "timely_acceptance": (3, 4),
        "on_time_completion": (2, 3),
        "closure": (3, 4),
        "resolution": (1, 3),  # settled: satisfied or basically satisfied
        "cessation": (2, 3),  # no repeat after the outcome
        "satisfaction": (1, 2),
        "participation": (2, 3),
        "first_visit_resolution": (1, 3),
    }
    assert hrss["repeat_petitions_by_month"] == {"2026-11": 1}
    assert hrss["overdue"] == {"total": 1, "resolution": 1}
    housing = next(g for g in found if g["group"] == "housing")
    assert (housing["closure"]["numerator"], housing["closure"]["denominator"]) == (0, 1)

    other = Statistics(ClosureBase.REGISTERED, Resolution.CLOSED_OUT, Cessation.COMMITMENT)
    [everyone] = statistics(
        facts, StatisticsQuery(T0, T0 + timedelta(days=30), "all", clock.now, territory(), other)
    )
    assert everyone["cases"] == 6
    assert (everyone["closure"]["numerator"], everyone["closure"]["denominator"]) == (3, 6)
    assert everyone["resolution"]["numerator"] == 1  # closed out
    assert everyone["cessation"]["numerator"] == 1  # signed a commitment
    streets = statistics(
        facts,
        StatisticsQuery(
            T0, T0 + timedelta(days=30), "street", clock.now, territory(), Statistics()
        ),
    )
    assert [(g["group"], g["cases"]) for g in streets] == [
        ("桥北街道 (qiaobei)", 2),
        ("芦台街道 (lutai)", 4),
    ]


def test_statistics_come_from_the_events(app, clock):
    """The ledger is built from follow-up's own log: a fresh reading gives the same figures."""
    first = registered(app, clock)
    assign(app, clock, first)
    accept(app, clock, first)
    app.record_outcome(
        RecordOutcome(
            case_id=UUID(first),
            form=OutcomeForm.OPINION,
            opinion=Opinion.SUPPORT,
            summary="s",
            actor=LEAD,
            trace=T,
        )
    )
    app.record_return_visit(
        RecordReturnVisit(
            case_id=UUID(first), satisfaction=Satisfaction.SATISFIED, notes="", actor=CLERK, trace=T
        )
    )
    second = registered(app, clock)
    assign(app, clock, second)
    send(
        app,
        CaseRepeated(
            case_id=second,
            outcome="linked",
            channel="phone",
            repeat_count=1,
            repeated_at=clock.now + timedelta(days=1),
        ),
    )
    clock.advance(days=16)  # the second case's 15-day notice was never given
    app.fire_due()
    stats = app.statistics(T0, T0 + timedelta(days=30), "department", Statistics())
    [hrss] = stats
    assert hrss["cases"] == 2
    assert hrss["closure"]["numerator"] == 1
    assert hrss["satisfaction"]["rate"] == 1.0
    assert hrss["timely_acceptance"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert hrss["repeat_petitions_by_month"] == {"2026-11": 1}
    assert hrss["overdue"]["resolution"] == 1
    app.ledger.projector.rebuild()  # thrown away and made again from the log
    assert app.statistics(T0, T0 + timedelta(days=30), "department", Statistics()) == stats


def test_an_offset_clock_moves_with_its_file(tmp_path):
    path = tmp_path / "clock"
    clock = OffsetClock(path)
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 5
    set_offset(path, timedelta(days=8))
    assert abs((clock() - datetime.now(UTC) - timedelta(days=8)).total_seconds()) < 5


def test_a_major_matter_gets_a_month_then_a_leader_plan_with_monthly_reports(app, clock):
    case_id = registered(app, clock)
    assign(app, clock, case_id)
    clock.advance(hours=3)
    case = app.file_plan(
        FilePlan(
            case_id=UUID(case_id),
            summary="涉及三十户，需联合住建、人社",
            major=True,
            actor=LEAD,
            trace=T,
        )
    )
    assert case.major
    [resolution] = case.running((DeadlineKind.RESOLUTION,))
    assert resolution.due_at == T0 + timedelta(days=30)  # a month from the assignment
    with pytest.raises(FollowUpRefused, match="past"):
        app.approve_long_term_plan(
            ApproveLongTermPlan(
                case_id=UUID(case_id),
                summary="x",
                target=clock.now - timedelta(days=1),
                actor=LEADER,
                trace=T,
            )
        )
    clock.advance(days=25)
    target = T0 + timedelta(days=120)
    case = app.approve_long_term_plan(
        ApproveLongTermPlan(
            case_id=UUID(case_id),
            summary="分三期解决，次年二月底前完成",
            target=target,
            actor=LEADER,
            trace=T,
        )
    )
    assert due(app, case_id, "resolution").due_at == target
    monthly = due(app, case_id, "monthly-report")
    assert monthly.due_at == clock.now + timedelta(days=30)  # Nov 27 → Dec 27 local
    clock.advance(days=20)
    app.report_progress(
        ReportProgress(case_id=UUID(case_id), summary="第一期已完成", actor=LEAD, trace=T)
    )
    [again] = app.get_case(case_id).running((DeadlineKind.MONTHLY_REPORT,))
    assert again.id == "monthly-report#2" and again.starts_at == clock.now
    ordinary = registered(app, clock)
    assign(app, clock, ordinary)
    with pytest.raises(FollowUpRefused, match="major"):
        app.approve_long_term_plan(
            ApproveLongTermPlan(
                case_id=UUID(ordinary), summary="x", target=target, actor=LEADER, trace=T
            )
        )


def test_a_locality_writes_its_own_policy_as_json_and_mistakes_name_the_field(tmp_path, clock):
    data = STANDARD.as_dict()
    [ordinary] = [c for c in data["clocks"] if c["kind"] == "resolution" and c["major"] is False]
    ordinary["period"] = "5 working-days"  # this locality resolves in 5 working days
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({**data, "name": "lutai-5wd"}), encoding="utf-8")
    policy = load_policy(str(path))
    assert policy.name == "lutai-5wd" and policy.as_dict()["clocks"] == data["clocks"]
    app = seeded(FollowUpApplication(clock=clock, policy=policy))
    case_id = registered(app, clock)
    assign(app, clock, case_id)  # Monday 09:00 → the end of Monday next week
    assert due(app, case_id, "resolution").due_at.astimezone(CHINA.zone).date() == date(2026, 11, 9)
    ordinary["starts_on"] = ["assigned", "lunch"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"clocks\.3\.starts_on: unknown milestone 'lunch'"):
        load_policy(str(path))
    ordinary["starts_on"] = ["assigned"]
    ordinary["kind"] = "lunch-break"  # the domain knows what each kind of clock means
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"clocks\.3\.kind: one of acceptance-notice, "):
        load_policy(str(path))
    with pytest.raises(ValueError, match="neither a built-in policy"):
        load_policy("no-such-policy")
