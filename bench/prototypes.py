"""Prototype cases for the large store (`make bench-large`): real cases made by the three
services' own applications, in this process, on the store they will be served from.

Each application runs on PostgreSQL exactly as its service builds it (schema migrated,
intake's events sealed with the run's data keyring, the read models projected into their
tables). What Kafka would carry between them is carried by `Bus`: each application's stored
events, mapped to the wire by the service's own `wire.to_cloudevent`, checked as a consumer
checks them (`shared.kafka.trusted`) and handed to the applications that follow that topic,
each with a tracking record under a name of the bench's own (`seed:<service>`), never a
Kafka partition's, so a service started later on the same topics reprocesses nothing.

Cases live through their whole life on a clock the bench moves (`Timeline`): registration,
assignment, acceptance, the plan, progress, co-handlers' parts, the outcome, the return
visit, close-out — and follow-up's clock fires what falls due on the way (reminders,
breaches, supervision notices, escalations), as its scheduler would. Most cases are closed
weeks ago; a small share is still open, each with its next alarm far enough ahead that
nothing fires while the bench runs (`Prototypes.margin`).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import yaml
from eventsourcing.domain import CanCreateTimestamp
from eventsourcing.persistence import Tracking

from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from services.followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from services.followup.commands import (
    CloseOut,
    FilePlan,
    RateByCode,
    RecordCeaseCommitment,
    RecordOutcome,
    RecordReturnVisit,
    RecordVisit,
    ReportProgress,
)
from services.followup.domain.vocabulary import Opinion, OutcomeForm, Satisfaction, VisitKind
from services.followup.ledger import PostgresLedger
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.intake.bootstrap import build_application as build_intake
from services.intake.commands import Classify, DecideAcceptance, PersonGiven, RegisterCase
from services.intake.domain import (
    AcceptanceDecision,
    DuplicateAction,
    DuplicateDecision,
    Whereabouts,
)
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from services.routing.bootstrap import MIGRATIONS as ROUTING_MIGRATIONS
from services.routing.commands import AcceptAssignment, ReportPart
from services.routing.inbox import PostgresInbox
from shared.clock import Clock
from shared.domain import Actor, Trace
from shared.envelope import CloudEvent
from shared.kafka import trusted
from shared.kafka_access import FOLLOWS
from shared.migrations import migrate
from shared.settings import ServiceName, Settings
from shared.store import eventsourcing_env
from shared.territory_file import TerritoryFile
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass

CLERK = Actor("clerk-wang", "clerk", "window-1")
SUPERVISOR = Actor("supervisor-zhou", "supervisor")
WIRES: dict[ServiceName, Any] = {
    "intake": intake_wire,
    "routing": routing_wire,
    "followup": followup_wire,
}


class MovedClock:
    """The time the prototypes live in: set by the timeline, read by the applications and —
    within `dating_events` — by every event the process records."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def dating_events(clock: Clock) -> Iterator[None]:
    """Every event recorded meanwhile is dated by `clock`, as `shared.clock.service_clock`
    does for a drill; the library's own clock is put back afterwards."""
    original = CanCreateTimestamp.__dict__["create_timestamp"]
    setattr(CanCreateTimestamp, "create_timestamp", staticmethod(clock))  # noqa: B010
    try:
        yield
    finally:
        setattr(CanCreateTimestamp, "create_timestamp", original)  # noqa: B010


@dataclass
class Stack:
    """The three applications on the store, as their services build them."""

    intake: IntakeApplication
    routing: RoutingApplication
    followup: FollowUpApplication

    def apps(self) -> dict[ServiceName, Any]:
        return {"intake": self.intake, "routing": self.routing, "followup": self.followup}

    def close(self) -> None:
        for app in self.apps().values():
            app.close()
        self.routing.inbox.tables.close()  # type: ignore[attr-defined]
        self.followup.ledger.tables.close()  # type: ignore[attr-defined]


def open_stack(settings: Settings, clock: Clock) -> Stack:
    migrate(settings, "routing", *ROUTING_MIGRATIONS)
    migrate(settings, "followup", *FOLLOWUP_MIGRATIONS)
    intake = build_intake(settings)  # migrates intake's schema
    intake.clock = clock
    routing = RoutingApplication(
        eventsourcing_env(settings, "routing"), clock=clock, inbox=PostgresInbox(settings)
    )
    followup = FollowUpApplication(
        eventsourcing_env(settings, "followup"), clock=clock, ledger=PostgresLedger(settings)
    )
    return Stack(intake, routing, followup)


class Bus:
    """Kafka's part, in process: every application's new events go to those that follow its
    topic, in the order they were stored, each exactly once."""

    def __init__(self, settings: Settings, stack: Stack) -> None:
        self.settings = settings
        self.stack = stack
        self.read: dict[ServiceName, int] = {}
        for service, app in stack.apps().items():
            self.read[service] = app.recorder.max_notification_id() or 0

    def pump(self) -> int:
        """Deliver until nothing new was stored; returns how many records were delivered."""
        delivered = 0
        apps = self.stack.apps()
        while True:
            moved = 0
            for service, app in apps.items():
                wire = WIRES[service]
                topic = self.settings.topic(service)
                while True:
                    notifications = app.recorder.select_notifications(
                        start=self.read[service], limit=500, inclusive_of_start=False
                    )
                    if not notifications:
                        break
                    for n in notifications:
                        self.read[service] = n.id
                        if not wire.publishes(n.topic):
                            continue
                        event = wire.to_cloudevent(app.mapper.to_domain_event(n))
                        if event is None:
                            continue
                        record = CloudEvent.from_json(event.to_json())
                        trusted(topic, record)
                        for follower, follows in FOLLOWS.items():
                            if service in follows:
                                apps[follower].handle(record, Tracking(f"seed:{service}", n.id))
                                moved += 1
            delivered += moved
            if not moved:
                return delivered


@dataclass(order=True)
class Step:
    at: datetime
    seq: int
    action: Callable[[], object] = field(compare=False)


class Timeline:
    """Actions at moments of the moved clock, run in time order; after each, what the others
    hear of it is delivered and follow-up's clock fires what fell due by then."""

    def __init__(self, clock: MovedClock, stack: Stack, bus: Bus) -> None:
        self.clock = clock
        self.stack = stack
        self.bus = bus
        self.steps: list[Step] = []
        self._seq = count()
        self.failures: list[str] = []

    def at(self, when: datetime, action: Callable[[], object]) -> None:
        heapq.heappush(self.steps, Step(when, next(self._seq), action))

    def run(self, until: datetime) -> None:
        while self.steps:
            step = heapq.heappop(self.steps)
            self.clock.now = max(self.clock.now, step.at)
            step.action()
            self.bus.pump()
            self.tick()
        self.clock.now = max(self.clock.now, until)
        self.tick()

    def tick(self) -> None:
        if self.stack.followup.fire_due():
            self.bus.pump()


# --- the cases ----------------------------------------------------------------------------

WHERE = {
    "labour-wages": ["lutai", "jinxiu", "yuhe", "qiaobei", "xinhua", "huaihua", "tangling"],
    "social-security": ["lutai", "qiaobei", "changhong"],
    "housing-demolition": ["fengtai", "dongxin", "xiaozhuang", "gucheng-village"],
    "property-management": ["jinxiu", "yuhe", "xinhua", "changhong"],
    "urban-management": ["lutai", "qiaobei", "fengtai", "jinxiu"],
    "environment": ["fengtai", "dongxin", "xiaozhuang"],
    "land-resources": ["fengtai", "xiaozhuang"],
    "public-security": ["lutai", "qiaobei"],
    "health": ["lutai", "xinhua"],
    "education": ["qiaobei", "yuhe"],
    "civil-affairs": ["jinxiu", "changhong"],
    "neighbour-dispute": ["jinxiu"],
}
SUBJECTS = {
    "labour-wages": ("工地拖欠工资", "在工地务工三个月，工资共计1.8万元未发放"),
    "social-security": ("社保断缴", "单位未按时缴纳养老保险，已断缴半年"),
    "housing-demolition": ("拆迁补偿争议", "对拆迁补偿标准有异议，要求重新评估"),
    "property-management": ("物业不维修电梯", "小区电梯停运两周，物业迟迟不维修"),
    "urban-management": ("占道经营扰民", "夜市摊位占用人行道，噪音扰民"),
    "environment": ("河道有异味", "河道散发异味，怀疑有企业偷排"),
    "land-resources": ("宅基地纠纷", "宅基地边界与邻居发生争议"),
    "public-security": ("小区治安问题", "小区多次发生电动车被盗"),
    "health": ("医疗费用争议", "住院费用清单与实际不符"),
    "education": ("入学安排问题", "孩子入学被分配到较远的学校"),
    "civil-affairs": ("低保申请", "申请低保半年未有答复"),
    "neighbour-dispute": ("邻里漏水纠纷", "楼上漏水导致天花板损坏，协商未果"),
}
NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴霞"]
CHANNELS = [Channel.VISIT, Channel.VISIT, Channel.PHONE, Channel.LETTER, Channel.ONLINE]

KINDS: dict[str, float] = {
    "closed": 0.86,
    "reopened": 0.03,
    "declined": 0.02,
    "diverted": 0.02,
    "fresh": 0.02,
    "handling": 0.025,
    "overdue": 0.01,
    "outcome": 0.01,
    "manual": 0.005,
}
"""What the prototypes are, by share: closed (some after a reopening), not accepted, and
open at each stage — 7% of the store still open, as a centre's current work."""
OPEN_KINDS = ("fresh", "handling", "overdue", "outcome", "manual")


def id_number(n: int) -> str:
    """The n-th of the bench's resident ID numbers (n < 18,250,000, each different):
    well-formed (GB 11643 check digit), region 120117 (宁河区), born 1950–1999."""
    birth = datetime(1950, 1, 1) + timedelta(days=(n // 1000 * 7919) % (50 * 365))
    body = f"120117{birth:%Y%m%d}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def phone(n: int) -> str:
    """The n-th of the bench's mobile numbers (n < 10⁹, each different)."""
    return f"1{3 + n % 7}{n:09d}"


@dataclass
class Prototype:
    """One prototype case: what kind it is and the ids the cloner must renew."""

    kind: str
    case_id: UUID
    petitioner_id: UUID | None
    id_number: str
    phone: str
    correlations: list[str] = field(default_factory=list)
    """The conversations its commands started (uuid text), renewed per clone."""


@dataclass
class Prototypes:
    """Makes the prototype cases on `settings`' store, `count` of them by `KINDS`."""

    settings: Settings
    count: int = 300
    seed: int = 17
    margin: timedelta = timedelta(hours=12)
    """The least time, from now, before any open case's next alarm."""
    made: list[Prototype] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def make(self, territory: Path | None = None) -> list[Prototype]:
        """Make them (first registering `territory`, a territory file, with routing and
        telling the others, as `onestop territory import` would); returns what was made."""
        rng = random.Random(self.seed)
        clock = MovedClock(self.now - timedelta(days=60))
        with dating_events(clock):
            stack = open_stack(self.settings, clock)
            try:
                bus = Bus(self.settings, stack)
                if territory is not None:
                    document = TerritoryFile.model_validate(
                        yaml.safe_load(territory.read_text(encoding="utf-8"))
                    ).document()
                    stack.routing.import_territory(document, Actor("admin", "admin"))
                    bus.pump()
                timeline = Timeline(clock, stack, bus)
                kinds = self._kinds()
                for i, kind in enumerate(kinds):
                    self._plan(timeline, stack, rng, i, kind)
                timeline.run(until=self.now)
                if timeline.failures:
                    raise RuntimeError("prototype steps failed: " + "; ".join(timeline.failures))
                stack.intake.index.catch_up()
                stack.routing.inbox.catch_up()
                stack.followup.ledger.catch_up()
            finally:
                stack.close()
        return self.made

    def _kinds(self) -> list[str]:
        counts = {k: max(1, round(self.count * share)) for k, share in KINDS.items()}
        counts["closed"] += self.count - sum(counts.values())
        kinds = [k for k, n in counts.items() for _ in range(max(n, 0))]
        return kinds

    # --- one case's life --------------------------------------------------------------

    def _plan(self, t: Timeline, stack: Stack, rng: random.Random, i: int, kind: str) -> None:
        category = "other" if kind == "manual" else rng.choice(sorted(WHERE))
        place = "lutai" if kind == "manual" else rng.choice(WHERE[category])
        subject, description = SUBJECTS.get(category, ("其他事项", "反映的问题不属于已有类别"))
        number = 7_000_000 + i
        proto = Prototype(kind, uuid4(), None, id_number(number), phone(number))
        now = self.now
        start = {
            "closed": now - timedelta(days=45) + timedelta(minutes=37 * i % (3 * 24 * 60)),
            "reopened": now - timedelta(days=45) + timedelta(minutes=53 * i % (3 * 24 * 60)),
            "declined": now - timedelta(days=30) + timedelta(minutes=41 * i % (24 * 60)),
            "diverted": now - timedelta(days=30) + timedelta(minutes=43 * i % (24 * 60)),
            "overdue": now - timedelta(days=12) + timedelta(minutes=7 * i % 600),
            "outcome": now - timedelta(days=6) + timedelta(minutes=7 * i % 600),
            "handling": now - timedelta(days=2) + timedelta(minutes=7 * i % 300),
            "manual": now - timedelta(hours=3) + timedelta(minutes=i % 60),
            "fresh": now - timedelta(hours=3) + timedelta(minutes=i % 30),
        }[kind]
        channel = rng.choice(CHANNELS)
        who = rng.choice(NAMES)

        def trace() -> Trace:
            correlation = str(uuid4())
            proto.correlations.append(correlation)
            return Trace(correlation)

        def register() -> None:
            outcome = stack.intake.register(
                RegisterCase(
                    channel=channel,
                    subject=subject,
                    description=description,
                    category=category,
                    location=Whereabouts(place),
                    petitioners=(
                        PersonGiven(who, proto.id_number, proto.phone, f"{place}社区{i % 40}号楼"),
                    ),
                    duplicate_decision=DuplicateDecision(
                        DuplicateAction.NEW, reason="a matter of its own"
                    ),
                ),
                CLERK,
                trace(),
            )
            assert outcome.case.id, outcome
            # the clones renew the case's id and its petitioner's
            real = outcome.case.id
            proto.case_id = real
            proto.petitioner_id = UUID(outcome.case.petitioner_ids[0])
            self.made.append(proto)

        def handler(department: str) -> Actor:
            return Actor(f"handler-{department}", "handler", department)

        def lead() -> str:
            case = stack.followup.get_case(proto.case_id)
            assert case.lead is not None, f"{proto.case_id} has no lead"
            return case.lead.code

        def co_handlers() -> list[str]:
            return [c.code for c in stack.followup.get_case(proto.case_id).co_handlers]

        def accept_assignment() -> None:
            for department in [lead(), *co_handlers()]:
                stack.routing.accept(
                    AcceptAssignment(
                        case_id=proto.case_id, actor=handler(department), trace=trace()
                    )
                )

        def decide(decision: Decision) -> Callable[[], None]:
            def act() -> None:
                stack.intake.classify(
                    Classify(case_id=proto.case_id, legal_class=LegalClass.CLAIM), CLERK, trace()
                )
                reason = {Decision.ACCEPT: None, Decision.DECLINE: "不属于信访受理范围"}.get(
                    decision, "应通过劳动仲裁解决"
                )
                stack.intake.decide_acceptance(
                    DecideAcceptance(
                        case_id=proto.case_id,
                        decision=AcceptanceDecision(
                            decision,
                            reason,
                            LegalChannel.LABOUR_ARBITRATION
                            if decision is Decision.DIVERT
                            else None,
                        ),
                    ),
                    CLERK,
                    trace(),
                )

            return act

        def plan() -> None:
            stack.followup.file_plan(
                FilePlan(
                    case_id=proto.case_id,
                    summary="约谈相关单位，三日内核实情况",
                    actor=handler(lead()),
                    trace=trace(),
                )
            )

        def progress() -> None:
            stack.followup.report_progress(
                ReportProgress(
                    case_id=proto.case_id,
                    summary="已与相关单位见面，对方同意整改",
                    actor=handler(lead()),
                    trace=trace(),
                )
            )

        def parts() -> None:
            for department in co_handlers():
                stack.routing.report_part(
                    ReportPart(
                        case_id=proto.case_id,
                        summary="配合核查完毕，意见已转牵头单位",
                        actor=handler(department),
                        trace=trace(),
                    )
                )

        def outcome() -> None:
            stack.followup.record_outcome(
                RecordOutcome(
                    case_id=proto.case_id,
                    form=OutcomeForm.OPINION,
                    opinion=rng.choice([Opinion.SUPPORT, Opinion.SUPPORT, Opinion.EXPLAIN]),
                    summary="经协调，相关单位已按要求处理完毕",
                    actor=handler(lead()),
                    trace=trace(),
                )
            )

        def return_visit(satisfaction: Satisfaction) -> Callable[[], None]:
            def act() -> None:
                stack.followup.record_return_visit(
                    RecordReturnVisit(
                        case_id=proto.case_id,
                        satisfaction=satisfaction,
                        notes="电话回访",
                        actor=CLERK,
                        trace=trace(),
                    )
                )

            return act

        def close_out() -> None:
            if rng.random() < 0.2:
                stack.followup.record_cease_commitment(
                    RecordCeaseCommitment(
                        case_id=proto.case_id,
                        note="信访人签署息诉罢访承诺书",
                        actor=SUPERVISOR,
                        trace=trace(),
                    )
                )
            stack.followup.close_out(
                CloseOut(case_id=proto.case_id, actor=SUPERVISOR, trace=trace())
            )

        def rating() -> None:
            code = stack.intake.case_code(proto.case_id)
            stack.followup.rate_by_code(
                RateByCode(code=code, satisfaction=Satisfaction.SATISFIED, comment="满意")
            )

        def visit() -> None:
            stack.followup.record_visit(
                RecordVisit(
                    case_id=proto.case_id,
                    kind=VisitKind.RETURN_CALL,
                    visited_by="clerk-wang",
                    visited_at=None,
                    summary="回访，信访人表示问题已解决",
                    actor=CLERK,
                    trace=trace(),
                )
            )

        def later(hours: float, action: Callable[[], object]) -> None:
            jitter = rng.uniform(0, 0.5)
            t.at(start + timedelta(hours=hours + jitter), self._guarded(t, proto, action))

        later(0, register)
        if kind == "manual":
            return
        if kind in ("declined", "diverted"):
            later(20, decide(Decision.DECLINE if kind == "declined" else Decision.DIVERT))
            return
        later(2, accept_assignment)
        if kind == "fresh":
            return
        later(5, decide(Decision.ACCEPT))
        if kind == "overdue":  # no plan, no report: the clock breaches them
            later(24 * 8, plan)
            return
        later(8, plan)
        later(30, progress)
        if kind == "handling":
            return
        later(60, parts)
        later(96, outcome)
        if kind == "outcome":
            return
        if kind == "reopened":
            later(140, return_visit(Satisfaction.UNSATISFIED))
            later(170, progress)
            later(200, outcome)
            later(240, return_visit(Satisfaction.SATISFIED))
            later(242, close_out)
            return
        if rng.random() < 0.15:  # the petitioner rates it with the case code
            later(120, rating)
        else:
            satisfied = [Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED]
            later(140, return_visit(satisfied[rng.random() < 0.2]))
        later(142, close_out)
        if rng.random() < 0.1:
            later(24 * 20, visit)

    @staticmethod
    def _guarded(t: Timeline, proto: Prototype, action: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                action()
            except Exception as error:
                t.failures.append(f"{proto.kind} {proto.case_id}: {type(error).__name__}: {error}")

        return run
