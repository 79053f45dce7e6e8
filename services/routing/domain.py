"""Routing's domain: who owns a case, how departments answer, and the escalation ladder.

An `Assignment` (one per case, id = case id) records which department leads and which
co-handle (each one's `Party`), the catalogue rule and version that chose them, each
department's answer — accepted, or objected to within 5 working days (Art. 23) — and every
transfer, escalation, joint meeting and leader who took the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.routing.organisation import choose
from shared.calendar import CHINA, Period, WorkCalendar
from shared.domain import (
    Actor,
    Attributed,
    AttributedCreation,
    DomainError,
    StoredState,
    Trace,
    attribution,
)
from shared.territory import Department, DispatchRule, HandlingPlace, Location, Territory
from shared.vocabulary import LegalClass


class RoutingRefused(DomainError):
    """A routing command that the case's state or the rules do not allow."""


# --- the vocabulary ----------------------------------------------------------------------------


class Role(StrEnum):
    """主办 the lead department, answerable for the whole case; 协办 a co-handling one,
    answerable to the lead for its part."""

    LEAD = "lead"
    CO_HANDLER = "co-handler"


class PartyState(StrEnum):
    """Where a department stands with its part of a case."""

    AWAITING_ACCEPTANCE = "awaiting-acceptance"
    ACCEPTED = "accepted"
    OBJECTED = "objected"
    AWAITING_HANDLER = "awaiting-handler"
    """Its handler recused themselves: another handler of the department takes it over."""
    RELEASED = "released"
    """The matter was declined or diverted at intake: nobody handles it any more."""


class Status(StrEnum):
    """Where the case stands with routing, from its departments' answers."""

    NEW = "new"
    AWAITING_MANUAL_DISPATCH = "awaiting-manual-dispatch"
    AWAITING_ACCEPTANCE = "awaiting-acceptance"
    ACCEPTED = "accepted"
    OBJECTED = "objected"
    WITHDRAWN = "withdrawn"


class Level(StrEnum):
    """The rungs of the escalation ladder: window mediation, a joint meeting, a leader who
    takes the case personally."""

    WINDOW = "window"
    JOINT_MEETING = "joint-meeting"
    LEADER = "leader"

    @property
    def above(self) -> Level | None:
        """The next rung up; None at the top."""
        rungs = list(Level)
        at = rungs.index(self)
        return rungs[at + 1] if at + 1 < len(rungs) else None


class Trigger(StrEnum):
    """Why a case climbed the ladder."""

    REQUEST = "request"
    OBJECTION_DISPUTE = "objection-dispute"
    PING_PONG = "ping-pong"
    OVERDUE = "overdue"
    REPEAT = "repeat"
    GROUP = "group"


class HandOff(StrEnum):
    """Why the departments were chosen again after the catalogue first chose them."""

    MANUAL_DISPATCH = "manual-dispatch"
    OBJECTION = "objection"
    JOINT_MEETING = "joint-meeting"
    CONFIDENTIALITY = "confidentiality"
    RECLASSIFIED = "reclassified"

    @property
    def exempt_from_transfer_limit(self) -> bool:
        """Hand-offs no department asked for: a joint meeting's decision (Art. 24), or
        moving the case away from an accused unit or to the channel for its legal class."""
        return self in (HandOff.JOINT_MEETING, HandOff.CONFIDENTIALITY, HandOff.RECLASSIFIED)


class Binding(StrEnum):
    """Why a department may no longer object to its part: it asks for escalation instead."""

    OBJECTION_OVERRULED = "objection overruled"
    JOINT_MEETING = "joint-meeting"


class ReviewOutcome(StrEnum):
    """How the supervision office settles an objection: the department handles its part,
    the case goes elsewhere, or the dispute goes up to a joint meeting."""

    OVERRULE = "overrule"
    REROUTE = "reroute"
    ESCALATE = "escalate"


TRANSFER_LIMIT = 2
"""Transfers of the lead before a further one goes to a joint meeting instead (踢皮球)."""


@dataclass(frozen=True)
class ObjectionWindow:
    """How long a department has to object to a case routed to it: a department that finds
    the matter outside its remit says so, with reasons, within 5 working days of receiving
    it (《信访工作条例》第二十三条第三款, Art. 23 ¶3); after that it handles its part, or
    asks for escalation.

    Applied when the department receives the case, on the work calendar as published then;
    the event that hands it the case stores the deadline, so changing the window or
    publishing holidays moves the deadlines of cases received afterwards, never past ones.
    """

    period: Period

    def due(self, received: datetime, calendar: WorkCalendar) -> datetime:
        return calendar.end(received, self.period)


OBJECTION_WINDOW = ObjectionWindow(Period(5, "working-days"))

ORIGINAL_OBJECTION_WINDOW = ObjectionWindow(Period(5, "working-days"))
"""The window when the events did not yet store the deadline it gave, which was then counted
on the built-in calendar at every read. Their upcasts compute it so: fixed here, so that a
change of `OBJECTION_WINDOW` never moves those deadlines."""


# --- the value objects -------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentRef:
    """A department as a case names it: its code, and its name when the case reached it (a
    renamed department's past hand-offs keep the name they had)."""

    code: str
    name: str

    @classmethod
    def of(cls, department: Department) -> DepartmentRef:
        return cls(department.code, department.name)


@dataclass(frozen=True)
class Objection:
    """A department's word that the case is outside its remit, with its reason, and the
    review's reason if it was overruled."""

    reason: str
    at: datetime
    overruled: str | None = None


@dataclass(frozen=True)
class PartReport:
    """What a co-handler reports back to the lead of its part (首接负责: the lead answers
    for the whole case)."""

    summary: str
    at: datetime


@dataclass(frozen=True)
class Party:
    """A department's part in a case, in its role, and its answer. It receives the part
    awaiting acceptance and may object until `objection_due` (see `ObjectionWindow`); the
    handlers who recused themselves and the parts it reported stay with the department
    whatever its role becomes."""

    department: DepartmentRef
    role: Role
    since: datetime
    objection_due: datetime
    state: PartyState = PartyState.AWAITING_ACCEPTANCE
    objection: Objection | None = None
    binding: Binding | None = None
    handler: str | None = None
    recused: tuple[str, ...] = ()
    answered_at: datetime | None = None
    parts: tuple[PartReport, ...] = ()

    @property
    def code(self) -> str:
        return self.department.code

    def check_may_accept(self, user: str) -> None:
        if self.state is PartyState.ACCEPTED:
            raise RoutingRefused(f"{self.department.name} has already accepted it")
        self.check_not_recused(user)

    def check_not_recused(self, user: str) -> None:
        if user in self.recused:
            raise RoutingRefused("you declared a conflict of interest in this case (Art. 28)")

    def check_may_object(self, reason: str, now: datetime) -> None:
        """Once, before answering otherwise, unless bound, within the window (Art. 23 ¶3)."""
        if self.state is not PartyState.AWAITING_ACCEPTANCE:
            raise RoutingRefused(f"{self.department.name} has already answered: {self.state}")
        if self.binding:
            raise RoutingRefused(
                f"the assignment is binding ({self.binding}): ask for escalation instead"
            )
        if now > self.objection_due:
            raise RoutingRefused(
                "the time to object ended at "
                f"{self.objection_due.isoformat(timespec='minutes')} (Art. 23 ¶3)"
            )
        if len(reason.strip()) < 2:
            raise RoutingRefused("say why the case is outside the department's remit", "reason")

    def check_may_recuse(self, user: str, reason: str) -> None:
        if self.handler != user:
            raise RoutingRefused("only the case's handler in the department can recuse")
        if len(reason.strip()) < 2:
            raise RoutingRefused("say what the conflict of interest is", field="reason")

    def check_may_take_over(self, user: str) -> None:
        if self.state is not PartyState.AWAITING_HANDLER:
            raise RoutingRefused(f"{self.department.name} has no case to take over here")
        self.check_not_recused(user)

    def check_may_report(self, summary: str) -> None:
        if self.role is not Role.CO_HANDLER or self.state is not PartyState.ACCEPTED:
            raise RoutingRefused("a co-handler reports its part once it accepted it")
        if not summary.strip():
            raise RoutingRefused("say what the department did", field="summary")

    def accepted_by(self, handler: str, at: datetime) -> Party:
        return replace(self, state=PartyState.ACCEPTED, handler=handler, answered_at=at)

    def objected(self, objection: Objection) -> Party:
        return replace(
            self, state=PartyState.OBJECTED, objection=objection, answered_at=objection.at
        )

    def overruled(self, reason: str) -> Party:
        objection = replace(self.objection, overruled=reason) if self.objection else None
        return replace(
            self,
            state=PartyState.AWAITING_ACCEPTANCE,
            objection=objection,
            binding=Binding.OBJECTION_OVERRULED,
        )

    def without(self, handler: str) -> Party:
        """The handler recused: an accepted part waits for another handler."""
        waiting = self.state is PartyState.ACCEPTED
        return replace(
            self,
            recused=(*self.recused, handler),
            handler=None,
            state=PartyState.AWAITING_HANDLER if waiting else self.state,
        )

    def taken_over_by(self, handler: str) -> Party:
        return replace(self, handler=handler, state=PartyState.ACCEPTED)

    def reported(self, part: PartReport) -> Party:
        return replace(self, parts=(*self.parts, part))

    def released(self) -> Party:
        return replace(self, state=PartyState.RELEASED)

    def bound(self, binding: Binding) -> Party:
        return replace(self, binding=binding)


@dataclass(frozen=True)
class Transfer:
    """The lead changed: from one department to another, and why."""

    from_lead: DepartmentRef
    to_lead: DepartmentRef
    trigger: HandOff
    at: datetime


@dataclass(frozen=True)
class Escalation:
    """The case climbed one rung of the ladder, why, and who or what made it climb."""

    level: Level
    trigger: Trigger
    reason: str
    at: datetime
    by: Actor


@dataclass(frozen=True)
class JointMeeting:
    """联席会议 — the departments involved meet with a chair (Art. 24): the minutes, and
    what they decided."""

    chair: str
    departments: tuple[str, ...]
    minutes: str
    decisions: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class CaseLeader:
    """包案 — a leader takes the case personally, from whichever rung it is on."""

    user: str
    note: str
    at: datetime


@dataclass(frozen=True)
class CatalogueChoice:
    """The catalogue's choice of departments for a case, and why, in the catalogue's words."""

    rule: DispatchRule
    lead: DepartmentRef
    co_handlers: tuple[DepartmentRef, ...]
    reason: str


class Receipt(NamedTuple):
    """When departments receive a case, and until when they may object to it."""

    at: datetime
    objection_due: datetime


VALUE_OBJECTS: tuple[type, ...] = (DepartmentRef,)
"""What routing's events carry of its own (see `TrackedApplication.value_objects`)."""


# --- upcasts: events stored by earlier releases ------------------------------------------------


def _due_as_meant_then(state: StoredState) -> None:
    state["objection_due"] = ORIGINAL_OBJECTION_WINDOW.due(state["timestamp"], CHINA)


def _stored_departments(state: StoredState) -> None:
    """Departments were stored as `{"code", "name"}` dicts before they were value objects."""
    state["lead"] = DepartmentRef(**state["lead"])
    state["co_handlers"] = tuple(DepartmentRef(**d) for d in state["co_handlers"])


def _stored_department(state: StoredState) -> None:
    state["department"] = DepartmentRef(**state["department"])


def _stored_location(state: StoredState) -> None:
    """A location was stored as a dict, empty when unknown (events of the first version)."""
    state["location"] = Location.of(state["location"]) if state["location"] else None


# --- the aggregate ----------------------------------------------------------------------------


def _place(location: Location | None) -> str:
    return "/".join(location.path) if location else "(unknown place)"


class Assignment(Aggregate):
    """Who handles a case, and every hand-off of it (see the module docstring)."""

    class Assigned(AttributedCreation):
        """The catalogue chose the departments when the case arrived."""

        class_version = 5

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            state.update(category=None, location={}, legal_class=None)

        @staticmethod
        def upcast_v2_v3(state: StoredState) -> None:
            _due_as_meant_then(state)

        @staticmethod
        def upcast_v3_v4(state: StoredState) -> None:
            """Version 4 names the place (and grid) of the rule that chose the departments."""
            state["handled_at"] = None

        @staticmethod
        def upcast_v4_v5(state: StoredState) -> None:
            """Version 5 stores departments and the case's place as value objects."""
            _stored_departments(state)
            _stored_location(state)

        lead: DepartmentRef
        co_handlers: tuple[DepartmentRef, ...]
        rule_id: str
        rule_version: str
        reason: str
        category: str | None
        location: Location | None
        legal_class: LegalClass | None
        objection_due: datetime
        handled_at: HandlingPlace | None

        def apply(self, a: Assignment) -> None:
            a.category, a.location, a.legal_class = self.category, self.location, self.legal_class
            a.parties_from(self.lead, self.co_handlers, self.timestamp, self.objection_due)
            a.rule_id, a.rule_version, a.reason = self.rule_id, self.rule_version, self.reason
            a.handled_at = self.handled_at

    class QueuedForManualDispatch(AttributedCreation):
        """No rule covers the case: it waits for a person to dispatch it, not a guess."""

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            state.update(category=None, location={}, legal_class=None)

        @staticmethod
        def upcast_v2_v3(state: StoredState) -> None:
            """Version 3 stores the case's place as a value object."""
            _stored_location(state)

        reason: str
        rule_version: str
        category: str | None
        location: Location | None
        legal_class: LegalClass | None

        def apply(self, a: Assignment) -> None:
            a.category, a.location, a.legal_class = self.category, self.location, self.legal_class
            a.status = Status.AWAITING_MANUAL_DISPATCH
            a.rule_version, a.reason = self.rule_version, self.reason

    class Dispatched(Attributed):
        """Departments chosen again: by hand, after an objection, by a joint meeting, or
        away from an accused unit. A change of lead counts as a transfer."""

        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            _due_as_meant_then(state)

        @staticmethod
        def upcast_v2_v3(state: StoredState) -> None:
            """Version 3 names the place (and grid) of the rule that chose the departments."""
            state["handled_at"] = None

        @staticmethod
        def upcast_v3_v4(state: StoredState) -> None:
            """Version 4 stores departments as value objects."""
            _stored_departments(state)

        lead: DepartmentRef
        co_handlers: tuple[DepartmentRef, ...]
        rule_id: str | None
        rule_version: str
        reason: str
        trigger: HandOff
        transfers: int
        objection_due: datetime
        handled_at: HandlingPlace | None

        def apply(self, a: Assignment) -> None:
            if a.lead is not None and a.lead.code != self.lead.code:
                a.transfers += (Transfer(a.lead, self.lead, self.trigger, self.timestamp),)
            confirmed = self.trigger is HandOff.JOINT_MEETING
            a.parties_from(
                self.lead,
                self.co_handlers,
                self.timestamp,
                self.objection_due,
                Binding.JOINT_MEETING if confirmed else None,
            )
            a.rule_id, a.rule_version, a.reason = self.rule_id, self.rule_version, self.reason
            a.handled_at = self.handled_at

    class Accepted(Attributed):
        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        role: Role
        handler: str

        def apply(self, a: Assignment) -> None:
            a.change_party(self.department, lambda p: p.accepted_by(self.handler, self.timestamp))

    class Objected(Attributed):
        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        role: Role
        reason: str

        def apply(self, a: Assignment) -> None:
            objection = Objection(self.reason, self.timestamp)
            a.objectors |= {self.department.code}
            a.change_party(self.department, lambda p: p.objected(objection))

    class ObjectionOverruled(Attributed):
        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        reason: str

        def apply(self, a: Assignment) -> None:
            a.change_party(self.department, lambda p: p.overruled(self.reason))

    class Escalated(Attributed):
        level: Level
        trigger: Trigger
        reason: str

        def apply(self, a: Assignment) -> None:
            a.level = self.level
            by = Actor.from_dict(self.actor)
            a.escalations += (
                Escalation(self.level, self.trigger, self.reason, self.timestamp, by),
            )

    class JointMeetingHeld(Attributed):
        chair: str
        departments: tuple[str, ...]
        minutes: str
        decisions: tuple[str, ...]

        def apply(self, a: Assignment) -> None:
            a.meetings += (
                JointMeeting(
                    self.chair, self.departments, self.minutes, self.decisions, self.timestamp
                ),
            )

    class LeaderTookCase(Attributed):
        leader: str
        note: str

        def apply(self, a: Assignment) -> None:
            a.level = Level.LEADER
            a.leader = CaseLeader(self.leader, self.note, self.timestamp)

    class Restricted(Attributed):
        """An accusation: the accused units never receive or read the case (Art. 30)."""

        accused: str
        barred: tuple[str, ...]

        def apply(self, a: Assignment) -> None:
            a.accused = self.accused
            a.barred |= frozenset(self.barred)
            for code in self.barred:
                a.parties.pop(code, None)
            if a.lead is not None and a.lead.code in self.barred:
                a.lead = None
                a.status = Status.AWAITING_MANUAL_DISPATCH
            a.co_handlers = tuple(c for c in a.co_handlers if c.code not in self.barred)

    class LegalClassNoted(Attributed):
        """Intake classified the case (Arts. 29–31); the catalogue may route it elsewhere."""

        legal_class: LegalClass

        def apply(self, a: Assignment) -> None:
            a.legal_class = self.legal_class

    class HandlerRecused(Attributed):
        """A handler declared a conflict of interest and was replaced (Art. 28)."""

        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        handler: str
        reason: str

        def apply(self, a: Assignment) -> None:
            a.change_party(self.department, lambda p: p.without(self.handler))

    class HandlerTook(Attributed):
        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        role: Role
        handler: str

        def apply(self, a: Assignment) -> None:
            a.change_party(self.department, lambda p: p.taken_over_by(self.handler))

    class PartReported(Attributed):
        """A co-handler reports its part back to the lead (see `PartReport`)."""

        class_version = 2
        upcast_v1_v2 = staticmethod(_stored_department)

        department: DepartmentRef
        summary: str

        def apply(self, a: Assignment) -> None:
            part = PartReport(self.summary, self.timestamp)
            a.change_party(self.department, lambda p: p.reported(part))

    class Withdrawn(Attributed):
        """Intake declined or diverted the matter: no department handles it any more."""

        reason: str

        def apply(self, a: Assignment) -> None:
            a.status = Status.WITHDRAWN
            a.reason = self.reason
            a.parties = {code: party.released() for code, party in a.parties.items()}

    def __init__(self) -> None:
        self.status = Status.NEW
        self.lead: DepartmentRef | None = None
        self.co_handlers: tuple[DepartmentRef, ...] = ()
        self.parties: dict[str, Party] = {}
        self.rule_id: str | None = None
        self.rule_version = ""
        self.reason = ""
        self.category: str | None = None
        self.location: Location | None = None
        self.legal_class: LegalClass | None = None
        self.handled_at: HandlingPlace | None = None
        self.transfers: tuple[Transfer, ...] = ()
        self.objectors: frozenset[str] = frozenset()
        self.level = Level.WINDOW
        self.escalations: tuple[Escalation, ...] = ()
        self.meetings: tuple[JointMeeting, ...] = ()
        self.leader: CaseLeader | None = None
        self.barred: frozenset[str] = frozenset()
        self.accused: str | None = None

    # --- state helpers used by the events ------------------------------------------------

    def parties_from(
        self,
        lead: DepartmentRef,
        co_handlers: tuple[DepartmentRef, ...],
        at: datetime,
        objection_due: datetime,
        binding: Binding | None = None,
    ) -> None:
        """The departments now involved; one already involved in the same role keeps its
        answer (bound now if `binding` says so), a new one may object until `objection_due`."""
        parties: dict[str, Party] = {}
        for ref, role in [(lead, Role.LEAD), *((c, Role.CO_HANDLER) for c in co_handlers)]:
            old = self.parties.get(ref.code)
            if old is not None and old.role is role and old.state is not PartyState.OBJECTED:
                parties[ref.code] = old.bound(binding) if binding else old
                continue
            parties[ref.code] = Party(
                ref,
                role,
                since=at,
                objection_due=objection_due,
                binding=binding,
                recused=old.recused if old else (),
                parts=old.parts if old else (),
            )
        self.parties = parties
        self.lead, self.co_handlers = lead, co_handlers
        self.settle()

    def change_party(self, department: DepartmentRef, change: Callable[[Party], Party]) -> None:
        self.parties[department.code] = change(self.parties[department.code])
        self.settle()

    def settle(self) -> None:
        """The case's status from its departments' answers."""
        if self.status is Status.WITHDRAWN:
            return
        if self.lead is None:
            self.status = Status.AWAITING_MANUAL_DISPATCH
        elif any(p.state is PartyState.OBJECTED for p in self.parties.values()):
            self.status = Status.OBJECTED
        else:
            accepted = self.parties[self.lead.code].state is PartyState.ACCEPTED
            self.status = Status.ACCEPTED if accepted else Status.AWAITING_ACCEPTANCE

    # --- commands -------------------------------------------------------------------------

    @classmethod
    def route(
        cls,
        *,
        case_id: UUID,
        category: str,
        location: Location,
        legal_class: LegalClass | None,
        territory: Territory,
        rules: tuple[DispatchRule, ...],
        rule_version: str,
        window: ObjectionWindow,
        calendar: WorkCalendar,
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """Assign by the catalogue, or queue for manual dispatch if no rule covers the case."""
        rule, _ = choose(rules, category, location, legal_class)
        departments = _departments(rule, territory) if rule else None
        if rule is None or departments is None:
            why = "no dispatch rule covers" if rule is None else "an inactive department is in"
            return cls._create(
                cls.QueuedForManualDispatch,
                id=case_id,
                reason=f"{why} category {category!r} at {_place(location)} ({rule_version})",
                rule_version=rule_version,
                category=category,
                location=location,
                legal_class=legal_class,
                **attribution(actor, trace),
            )
        lead, co = departments
        received = _received(window, calendar)
        return cls._create(
            cls.Assigned,
            id=case_id,
            lead=lead,
            co_handlers=co,
            rule_id=rule.rule_id,
            rule_version=rule_version,
            reason=_because(rule, rule_version, category, location, lead),
            handled_at=territory.handling_place(rule.scope),
            category=category,
            location=location,
            legal_class=legal_class,
            timestamp=received.at,
            objection_due=received.objection_due,
            **attribution(actor, trace),
        )

    def check_open(self) -> None:
        if self.status is Status.WITHDRAWN:
            raise RoutingRefused("the matter was declined or diverted: nobody handles it now")

    def party(self, department: str | None) -> Party:
        """The department's part in the case; refused if it has none (or is barred)."""
        party = self.parties.get(department or "")
        if party is None:
            raise RoutingRefused(
                f"department {department!r} has no part in this case", field="department"
            )
        return party

    def accept(self, actor: Actor, trace: Trace) -> None:
        """The actor's department takes its part; the actor becomes its handler."""
        self.check_open()
        party = self.party(actor.department)
        party.check_may_accept(actor.user)
        self.trigger_event(
            self.Accepted,
            department=party.department,
            role=party.role,
            handler=actor.user,
            **attribution(actor, trace),
        )

    def object(self, reason: str, now: datetime, actor: Actor, trace: Trace) -> None:
        """The actor's department says the case is outside its remit (Art. 23 ¶3)."""
        self.check_open()
        party = self.party(actor.department)
        party.check_may_object(reason, now)
        self.trigger_event(
            self.Objected,
            department=party.department,
            role=party.role,
            reason=reason.strip(),
            **attribution(actor, trace),
        )

    def overrule(self, department: str, reason: str, actor: Actor, trace: Trace) -> None:
        """The objection is reviewed and rejected: the department must handle its part."""
        self.check_open()
        self.check_objection_to_review(department)
        party = self.parties[department]
        self.trigger_event(
            self.ObjectionOverruled,
            department=party.department,
            reason=reason,
            **attribution(actor, trace),
        )

    def check_objection_to_review(self, department: str) -> None:
        """Whatever the review decides, it reviews an objection the department made."""
        party = self.parties.get(department)
        if party is None or party.state is not PartyState.OBJECTED:
            raise RoutingRefused(f"{department!r} has no objection to review", "department")

    def dispatch(
        self,
        *,
        lead: DepartmentRef,
        co_handlers: tuple[DepartmentRef, ...],
        reason: str,
        trigger: HandOff,
        window: ObjectionWindow,
        calendar: WorkCalendar,
        actor: Actor,
        trace: Trace,
        rule: DispatchRule | None = None,
        rule_version: str = "by hand",
        handled_at: HandlingPlace | None = None,
    ) -> None:
        """Choose the departments again. A further transfer of a case that has already
        changed hands `TRANSFER_LIMIT` times, or back to a department that objected to it,
        is not made: the case goes to a joint meeting instead (it is never looped)."""
        self.check_open()
        if {lead.code, *(c.code for c in co_handlers)} & self.barred:
            raise RoutingRefused(
                "an accusation is never routed to the accused (Art. 30)", field="lead"
            )
        if lead.code in (c.code for c in co_handlers):
            raise RoutingRefused("the lead is not also a co-handler", field="co_handlers")
        transfer = self.lead is not None and self.lead.code != lead.code
        if transfer and not trigger.exempt_from_transfer_limit:
            back = lead.code in self.objectors
            if back or len(self.transfers) >= TRANSFER_LIMIT:
                why = (
                    f"{lead.name} already objected to this case"
                    if back
                    else f"the case has changed hands {len(self.transfers)} times"
                )
                self.escalate(Trigger.PING_PONG, f"not transferred again: {why}", actor, trace)
                return
        received = _received(window, calendar)
        self.trigger_event(
            self.Dispatched,
            lead=lead,
            co_handlers=co_handlers,
            rule_id=rule.rule_id if rule else None,
            rule_version=rule_version,
            reason=reason,
            trigger=trigger,
            transfers=len(self.transfers) + int(transfer),
            handled_at=handled_at,
            timestamp=received.at,
            objection_due=received.objection_due,
            **attribution(actor, trace),
        )

    @property
    def may_escalate(self) -> bool:
        return self.level.above is not None

    def escalate(self, trigger: Trigger, reason: str, actor: Actor, trace: Trace) -> None:
        """Up one rung of the ladder; at the top already, nothing more to climb."""
        self.check_open()
        above = self.level.above
        if above is None:
            raise RoutingRefused("a leader already has this case (包案)", field="level")
        self.trigger_event(
            self.Escalated,
            level=above,
            trigger=trigger,
            reason=reason,
            **attribution(actor, trace),
        )

    def hold_joint_meeting(
        self,
        *,
        chair: str,
        departments: tuple[str, ...],
        minutes: str,
        decisions: tuple[str, ...],
        actor: Actor,
        trace: Trace,
    ) -> None:
        """Record a joint meeting (Art. 24): who met, what was said and decided."""
        self.check_open()
        if self.level is Level.WINDOW:
            raise RoutingRefused("escalate the case to a joint meeting first", field="level")
        if len(departments) < 2:
            raise RoutingRefused("a joint meeting brings several departments", "departments")
        if not minutes.strip() or not decisions:
            raise RoutingRefused("record the minutes and at least one decision", "decisions")
        self.trigger_event(
            self.JointMeetingHeld,
            chair=chair,
            departments=departments,
            minutes=minutes,
            decisions=decisions,
            **attribution(actor, trace),
        )

    def take_personally(self, leader: str, note: str, actor: Actor, trace: Trace) -> None:
        """A leader takes the case, from whichever rung it is on."""
        self.check_open()
        if self.leader is not None:
            raise RoutingRefused(f"{self.leader.user} already took this case", "leader")
        self.trigger_event(
            self.LeaderTookCase, leader=leader, note=note, **attribution(actor, trace)
        )

    def restrict(self, accused: str, barred: frozenset[str], actor: Actor, trace: Trace) -> None:
        """Keep an accusation away from the accused units, taking it off them if needed."""
        if self.accused is not None and barred <= self.barred:
            return
        self.trigger_event(
            self.Restricted,
            accused=accused,
            barred=tuple(sorted(barred)),
            **attribution(actor, trace),
        )

    def note_legal_class(self, legal_class: LegalClass, actor: Actor, trace: Trace) -> bool:
        """Record the case's legal class; True if it changed."""
        if legal_class == self.legal_class:
            return False
        self.trigger_event(
            self.LegalClassNoted, legal_class=legal_class, **attribution(actor, trace)
        )
        return True

    def recuse(self, reason: str, actor: Actor, trace: Trace) -> None:
        """The actor declares a conflict of interest and hands the case back (Art. 28)."""
        self.check_open()
        party = self.party(actor.department)
        party.check_may_recuse(actor.user, reason)
        self.trigger_event(
            self.HandlerRecused,
            department=party.department,
            handler=actor.user,
            reason=reason.strip(),
            **attribution(actor, trace),
        )

    def take_over(self, actor: Actor, trace: Trace) -> None:
        """Another handler of the department takes over after a recusal."""
        self.check_open()
        party = self.party(actor.department)
        party.check_may_take_over(actor.user)
        self.trigger_event(
            self.HandlerTook,
            department=party.department,
            role=party.role,
            handler=actor.user,
            **attribution(actor, trace),
        )

    def report_part(self, summary: str, actor: Actor, trace: Trace) -> None:
        self.check_open()
        party = self.party(actor.department)
        party.check_may_report(summary)
        self.trigger_event(
            self.PartReported,
            department=party.department,
            summary=summary.strip(),
            **attribution(actor, trace),
        )

    def withdraw(self, reason: str, actor: Actor, trace: Trace) -> None:
        if self.status is not Status.WITHDRAWN:
            self.trigger_event(self.Withdrawn, reason=reason, **attribution(actor, trace))

    # --- reading --------------------------------------------------------------------------

    def visible_to(self, department: str | None) -> bool:
        """An accused unit never reads the case (Art. 30)."""
        return department is None or department not in self.barred


def _received(window: ObjectionWindow, calendar: WorkCalendar) -> Receipt:
    """The moment departments receive the case — the time of the event that hands it to
    them, fixed now so that the deadline is counted from it — and until when they may
    object."""
    at = Assignment.Event.create_timestamp()
    return Receipt(at, window.due(at, calendar))


def _departments(
    rule: DispatchRule, territory: Territory
) -> tuple[DepartmentRef, tuple[DepartmentRef, ...]] | None:
    found = [territory.department(c) for c in (rule.lead, *rule.co_handlers)]
    refs = [DepartmentRef.of(d) for d in found if d is not None]
    if len(refs) != len(found):
        return None
    return refs[0], tuple(refs[1:])


def _because(
    rule: DispatchRule,
    version: str,
    category: str,
    location: Location | None,
    lead: DepartmentRef,
    passed_over: list[str] | None = None,
) -> str:
    legal = f" ({rule.legal_class})" if rule.legal_class else ""
    skipped = f"; passed over {', '.join(passed_over)}" if passed_over else ""
    return (
        f"rule {rule.rule_id} ({version}): {category}{legal} in {rule.scope} → "
        f"{lead.name}; case located at {_place(location)}{skipped}"
    )


def reroute_by_catalogue(
    assignment: Assignment,
    territory: Territory,
    rules: tuple[DispatchRule, ...],
    version: str,
    excluded: frozenset[str],
) -> CatalogueChoice | None:
    """The catalogue's choice for the case with some departments excluded, or None."""
    if assignment.category is None or assignment.location is None:
        return None
    rule, passed = choose(
        rules, assignment.category, assignment.location, assignment.legal_class, excluded
    )
    departments = _departments(rule, territory) if rule else None
    if rule is None or departments is None:
        return None
    lead, co = departments
    why = _because(rule, version, assignment.category, assignment.location, lead, passed)
    return CatalogueChoice(rule, lead, co, why)
