"""Routing's domain: who owns a case, how departments answer, and the escalation ladder.

An `Assignment` (one per case, id = case id) records which department leads (主办) and
which co-handle (协办), the catalogue rule and version that chose them, each department's
answer — accepted, or objected to within 5 working days (Art. 23) — and every transfer,
escalation, joint meeting and leader who took the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.routing.organisation import choose
from shared.calendar import CHINA, Period, WorkCalendar
from shared.domain import Actor, Attributed, AttributedCreation, DomainError, Trace, attribution
from shared.territory import Department, DispatchRule, HandlingPlace, Location, Territory


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


def _due_as_meant_then(state: dict[str, Any]) -> None:
    state["objection_due"] = ORIGINAL_OBJECTION_WINDOW.due(state["timestamp"], CHINA)


LEVELS = ("window", "joint-meeting", "leader")
"""The escalation ladder: window mediation → joint meeting (联席会议) → a leader takes the
case personally (包案)."""

TRIGGERS = ("request", "objection-dispute", "ping-pong", "overdue", "repeat", "group")

TRANSFER_LIMIT = 2
"""Transfers of the lead before a further one goes to a joint meeting instead (踢皮球)."""


EXEMPT_FROM_TRANSFER_LIMIT = ("joint-meeting", "confidentiality", "reclassified")
"""Transfers a department did not ask for: a joint meeting's decision (Art. 24), or moving
the case away from an accused unit or to the channel for its legal class."""


class RoutingRefused(DomainError):
    """A routing command that the case's state or the rules do not allow."""


def _place(location: dict[str, Any]) -> str:
    return "/".join(Location.of(location).path) if location else "(unknown place)"


def accused_departments(accused: str | None, territory: Territory) -> frozenset[str]:
    """The registered departments an accusation names (by code or by name)."""
    if not accused:
        return frozenset()
    text = accused.strip()
    return frozenset(
        d.code for d in territory.departments.values() if d.code == text or d.name in text
    )


class Assignment(Aggregate):
    """主办/协办 — who handles a case, and every hand-off of it (see the module docstring)."""

    class Assigned(AttributedCreation):
        """The catalogue chose the departments when the case arrived."""

        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(category=None, location={}, legal_class=None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            _due_as_meant_then(state)

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Version 4 names the place (and grid) of the rule that chose the departments."""
            state["handled_at"] = None

        lead: dict[str, str]
        co_handlers: list[dict[str, str]]
        rule_id: str
        rule_version: str
        reason: str
        category: str | None
        location: dict[str, Any]
        legal_class: str | None
        objection_due: datetime
        handled_at: HandlingPlace | None

        def apply(self, a: Assignment) -> None:
            a.context(self.category, self.location, self.legal_class)
            a.parties_from(self.lead, self.co_handlers, self.timestamp, self.objection_due)
            a.rule_id, a.rule_version, a.reason = self.rule_id, self.rule_version, self.reason
            a.handled_at = self.handled_at

    class QueuedForManualDispatch(AttributedCreation):
        """No rule covers the case: it waits for a person to dispatch it, not a guess."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(category=None, location={}, legal_class=None)

        reason: str
        rule_version: str
        category: str | None
        location: dict[str, Any]
        legal_class: str | None

        def apply(self, a: Assignment) -> None:
            a.context(self.category, self.location, self.legal_class)
            a.status = "awaiting-manual-dispatch"
            a.rule_version, a.reason = self.rule_version, self.reason

    class Dispatched(Attributed):
        """Departments chosen again: by hand, after an objection, by a joint meeting, or
        away from an accused unit. A change of lead counts as a transfer."""

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _due_as_meant_then(state)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Version 3 names the place (and grid) of the rule that chose the departments."""
            state["handled_at"] = None

        lead: dict[str, str]
        co_handlers: list[dict[str, str]]
        rule_id: str | None
        rule_version: str
        reason: str
        trigger: str
        transfers: int
        objection_due: datetime
        handled_at: HandlingPlace | None

        def apply(self, a: Assignment) -> None:
            if a.lead is not None and a.lead["code"] != self.lead["code"]:
                a.transfers.append(
                    {"from": a.lead, "to": self.lead, "trigger": self.trigger, "at": self.timestamp}
                )
            a.parties_from(
                self.lead, self.co_handlers, self.timestamp, self.objection_due, self.trigger
            )
            a.rule_id, a.rule_version, a.reason = self.rule_id, self.rule_version, self.reason
            a.handled_at = self.handled_at

    class Accepted(Attributed):
        department: dict[str, str]
        role: str
        handler: str

        def apply(self, a: Assignment) -> None:
            party = a.parties[self.department["code"]]
            party.update(state="accepted", handler=self.handler, answered_at=self.timestamp)
            a.settle()

    class Objected(Attributed):
        department: dict[str, str]
        role: str
        reason: str

        def apply(self, a: Assignment) -> None:
            a.parties[self.department["code"]].update(
                state="objected",
                objection={"reason": self.reason, "at": self.timestamp},
                answered_at=self.timestamp,
            )
            a.objectors.append(self.department["code"])
            a.settle()

    class ObjectionOverruled(Attributed):
        department: dict[str, str]
        reason: str

        def apply(self, a: Assignment) -> None:
            party = a.parties[self.department["code"]]
            party["objection"] = {**party["objection"], "overruled": self.reason}
            party.update(state="awaiting-acceptance", binding="objection overruled")
            a.settle()

    class Escalated(Attributed):
        level: str
        trigger: str
        reason: str

        def apply(self, a: Assignment) -> None:
            a.level = self.level
            a.escalations.append(
                {
                    "level": self.level,
                    "trigger": self.trigger,
                    "reason": self.reason,
                    "at": self.timestamp,
                    "by": self.actor,
                }
            )

    class JointMeetingHeld(Attributed):
        chair: str
        departments: list[str]
        minutes: str
        decisions: list[str]

        def apply(self, a: Assignment) -> None:
            a.meetings.append(
                {
                    "chair": self.chair,
                    "departments": self.departments,
                    "minutes": self.minutes,
                    "decisions": self.decisions,
                    "at": self.timestamp,
                }
            )

    class LeaderTookCase(Attributed):
        leader: str
        note: str

        def apply(self, a: Assignment) -> None:
            a.level = "leader"
            a.leader = {"user": self.leader, "note": self.note, "at": self.timestamp}

    class Restricted(Attributed):
        """An accusation: the accused units never receive or read the case (Art. 30)."""

        accused: str
        barred: list[str]

        def apply(self, a: Assignment) -> None:
            a.accused = self.accused
            a.barred = sorted(set(a.barred) | set(self.barred))
            for code in self.barred:
                a.parties.pop(code, None)
            if a.lead is not None and a.lead["code"] in self.barred:
                a.lead = None
                a.status = "awaiting-manual-dispatch"
            a.co_handlers = [c for c in a.co_handlers if c["code"] not in self.barred]

    class LegalClassNoted(Attributed):
        """Intake classified the case (Arts. 29–31); the catalogue may route it elsewhere."""

        legal_class: str

        def apply(self, a: Assignment) -> None:
            a.legal_class = self.legal_class

    class HandlerRecused(Attributed):
        """A handler declared a conflict of interest and was replaced (Art. 28)."""

        department: dict[str, str]
        handler: str
        reason: str

        def apply(self, a: Assignment) -> None:
            party = a.parties[self.department["code"]]
            party["recused"] = [*party["recused"], self.handler]
            party["handler"] = None
            if party["state"] == "accepted":
                party["state"] = "awaiting-handler"
            a.settle()

    class HandlerTook(Attributed):
        department: dict[str, str]
        role: str
        handler: str

        def apply(self, a: Assignment) -> None:
            a.parties[self.department["code"]].update(handler=self.handler, state="accepted")
            a.settle()

    class PartReported(Attributed):
        """A co-handler reports its part back to the lead (首接负责)."""

        department: dict[str, str]
        summary: str

        def apply(self, a: Assignment) -> None:
            a.parties[self.department["code"]]["parts"].append(
                {"summary": self.summary, "at": self.timestamp}
            )

    class Withdrawn(Attributed):
        """Intake declined or diverted the matter: no department handles it any more."""

        reason: str

        def apply(self, a: Assignment) -> None:
            a.status = "withdrawn"
            a.reason = self.reason
            for party in a.parties.values():
                party["state"] = "released"

    def __init__(self) -> None:
        self.status = "new"
        self.lead: dict[str, str] | None = None
        self.co_handlers: list[dict[str, str]] = []
        self.parties: dict[str, dict[str, Any]] = {}
        self.rule_id: str | None = None
        self.rule_version = ""
        self.reason = ""
        self.category: str | None = None
        self.location: dict[str, Any] = {}
        self.legal_class: str | None = None
        self.handled_at: HandlingPlace | None = None
        self.transfers: list[dict[str, Any]] = []
        self.objectors: list[str] = []
        self.level = "window"
        self.escalations: list[dict[str, Any]] = []
        self.meetings: list[dict[str, Any]] = []
        self.leader: dict[str, Any] | None = None
        self.barred: list[str] = []
        self.accused: str | None = None

    # --- state helpers used by the events ------------------------------------------------

    def context(self, category: str | None, location: dict[str, Any], legal: str | None) -> None:
        self.category, self.location, self.legal_class = category, location, legal

    def parties_from(
        self,
        lead: dict[str, str],
        co_handlers: list[dict[str, str]],
        at: datetime,
        objection_due: datetime,
        binding: str | None = None,
    ) -> None:
        """The departments now involved; one already involved in the same role keeps its
        answer, a new one may object until `objection_due` (see `ObjectionWindow`)."""
        parties = {}
        for ref, role in [(lead, "lead"), *((c, "co-handler") for c in co_handlers)]:
            old = self.parties.get(ref["code"])
            if old is not None and old["role"] == role and old["state"] != "objected":
                # a joint meeting's decision binds a department it confirms, too
                confirmed = binding == "joint-meeting"
                parties[ref["code"]] = {**old, "binding": "joint-meeting"} if confirmed else old
                continue
            parties[ref["code"]] = {
                **ref,
                "role": role,
                "state": "awaiting-acceptance",
                "since": at,
                "objection_due": objection_due,
                "objection": None,
                "binding": binding if binding == "joint-meeting" else None,
                "handler": None,
                "recused": old["recused"] if old else [],
                "answered_at": None,
                "parts": old["parts"] if old else [],
            }
        self.parties = parties
        self.lead, self.co_handlers = lead, co_handlers
        self.settle()

    def settle(self) -> None:
        """The case's status from its departments' answers."""
        if self.status == "withdrawn":
            return
        if self.lead is None:
            self.status = "awaiting-manual-dispatch"
        elif any(p["state"] == "objected" for p in self.parties.values()):
            self.status = "objected"
        else:
            lead = self.parties[self.lead["code"]]
            self.status = "accepted" if lead["state"] == "accepted" else "awaiting-acceptance"

    # --- commands -------------------------------------------------------------------------

    @classmethod
    def route(
        cls,
        *,
        case_id: UUID,
        category: str,
        location: Location,
        legal_class: str | None,
        territory: Territory,
        rules: tuple[DispatchRule, ...],
        rule_version: str,
        window: ObjectionWindow,
        calendar: WorkCalendar,
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """Assign by the catalogue, or queue for manual dispatch if no rule covers the case."""
        place = location.as_dict()
        context = {"category": category, "location": place, "legal_class": legal_class}
        rule, _ = choose(rules, category, location, legal_class)
        departments = _departments(rule, territory) if rule else None
        if rule is None or departments is None:
            why = "no dispatch rule covers" if rule is None else "an inactive department is in"
            return cls._create(
                cls.QueuedForManualDispatch,
                id=case_id,
                reason=f"{why} category {category!r} at {_place(place)} ({rule_version})",
                rule_version=rule_version,
                **context,
                **attribution(actor, trace),
            )
        lead, co = departments
        return cls._create(
            cls.Assigned,
            id=case_id,
            lead=lead,
            co_handlers=co,
            rule_id=rule.rule_id,
            rule_version=rule_version,
            reason=_because(rule, rule_version, category, place, lead),
            handled_at=territory.handling_place(rule.scope),
            **context,
            **_received(window, calendar),
            **attribution(actor, trace),
        )

    def _open(self) -> None:
        if self.status == "withdrawn":
            raise RoutingRefused("the matter was declined or diverted: nobody handles it now")

    def _party(self, department: str | None) -> dict[str, Any]:
        party = self.parties.get(department or "")
        if party is None:
            raise RoutingRefused(
                f"department {department!r} has no part in this case", field="department"
            )
        return party

    def accept(self, actor: Actor, trace: Trace) -> None:
        """The actor's department takes its part; the actor becomes its handler."""
        self._open()
        party = self._party(actor.department)
        if party["state"] == "accepted":
            raise RoutingRefused(f"{party['name']} has already accepted it")
        if actor.user in party["recused"]:
            raise RoutingRefused("you declared a conflict of interest in this case (Art. 28)")
        self.trigger_event(
            self.Accepted,
            department=_ref(party),
            role=party["role"],
            handler=actor.user,
            **attribution(actor, trace),
        )

    def object(self, reason: str, now: datetime, actor: Actor, trace: Trace) -> None:
        """The actor's department says the case is outside its remit (Art. 23 ¶3)."""
        self._open()
        party = self._party(actor.department)
        if party["state"] != "awaiting-acceptance":
            raise RoutingRefused(f"{party['name']} has already answered: {party['state']}")
        if party["binding"]:
            raise RoutingRefused(
                f"the assignment is binding ({party['binding']}): ask for escalation instead"
            )
        if now > party["objection_due"]:
            raise RoutingRefused(
                "the time to object ended at "
                f"{party['objection_due'].isoformat(timespec='minutes')} (Art. 23 ¶3)"
            )
        if len(reason.strip()) < 2:
            raise RoutingRefused("say why the case is outside the department's remit", "reason")
        self.trigger_event(
            self.Objected,
            department=_ref(party),
            role=party["role"],
            reason=reason.strip(),
            **attribution(actor, trace),
        )

    def overrule(self, department: str, reason: str, actor: Actor, trace: Trace) -> None:
        """The objection is reviewed and rejected: the department must handle its part."""
        self._open()
        party = self._party(department)
        if party["state"] != "objected":
            raise RoutingRefused(f"{party['name']} has no objection to review", "department")
        self.trigger_event(
            self.ObjectionOverruled,
            department=_ref(party),
            reason=reason,
            **attribution(actor, trace),
        )

    def dispatch(
        self,
        *,
        lead: dict[str, str],
        co_handlers: list[dict[str, str]],
        reason: str,
        trigger: str,
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
        is not made: the case goes to a joint meeting instead (踢皮球 is never looped)."""
        self._open()
        codes = {lead["code"], *(c["code"] for c in co_handlers)}
        barred = codes & set(self.barred)
        if barred:
            raise RoutingRefused(
                "an accusation is never routed to the accused (Art. 30)", field="lead"
            )
        if lead["code"] in (c["code"] for c in co_handlers):
            raise RoutingRefused("the lead is not also a co-handler", field="co_handlers")
        transfer = self.lead is not None and self.lead["code"] != lead["code"]
        if transfer and trigger not in EXEMPT_FROM_TRANSFER_LIMIT:
            back = lead["code"] in self.objectors
            if back or len(self.transfers) >= TRANSFER_LIMIT:
                why = (
                    f"{lead['name']} already objected to this case"
                    if back
                    else f"the case has changed hands {len(self.transfers)} times"
                )
                self.escalate("ping-pong", f"not transferred again: {why}", actor, trace)
                return
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
            **_received(window, calendar),
            **attribution(actor, trace),
        )

    def escalate(self, trigger: str, reason: str, actor: Actor, trace: Trace) -> None:
        """Up one rung of the ladder; at the top already, nothing more to climb."""
        self._open()
        if trigger not in TRIGGERS:
            raise RoutingRefused(f"trigger is one of {', '.join(TRIGGERS)}", field="trigger")
        at = LEVELS.index(self.level)
        if at == len(LEVELS) - 1:
            raise RoutingRefused("a leader already has this case (包案)", field="level")
        self.trigger_event(
            self.Escalated,
            level=LEVELS[at + 1],
            trigger=trigger,
            reason=reason,
            **attribution(actor, trace),
        )

    def hold_joint_meeting(
        self,
        *,
        chair: str,
        departments: list[str],
        minutes: str,
        decisions: list[str],
        actor: Actor,
        trace: Trace,
    ) -> None:
        """Record a joint meeting (Art. 24): who met, what was said and decided."""
        self._open()
        if self.level == "window":
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
        """A leader takes the case (包案), from whichever rung it is on."""
        self._open()
        if self.leader is not None:
            raise RoutingRefused(f"{self.leader['user']} already took this case", "leader")
        self.trigger_event(
            self.LeaderTookCase, leader=leader, note=note, **attribution(actor, trace)
        )

    def restrict(self, accused: str, barred: frozenset[str], actor: Actor, trace: Trace) -> None:
        """Keep an accusation away from the accused units, taking it off them if needed."""
        if self.accused is not None and set(barred) <= set(self.barred):
            return
        self.trigger_event(
            self.Restricted, accused=accused, barred=sorted(barred), **attribution(actor, trace)
        )

    def note_legal_class(self, legal_class: str, actor: Actor, trace: Trace) -> bool:
        """Record the case's legal class; True if it changed."""
        if legal_class == self.legal_class:
            return False
        self.trigger_event(
            self.LegalClassNoted, legal_class=legal_class, **attribution(actor, trace)
        )
        return True

    def recuse(self, reason: str, actor: Actor, trace: Trace) -> None:
        """The actor declares a conflict of interest and hands the case back (Art. 28)."""
        self._open()
        party = self._party(actor.department)
        if party["handler"] != actor.user:
            raise RoutingRefused("only the case's handler in the department can recuse")
        if len(reason.strip()) < 2:
            raise RoutingRefused("say what the conflict of interest is", field="reason")
        self.trigger_event(
            self.HandlerRecused,
            department=_ref(party),
            handler=actor.user,
            reason=reason.strip(),
            **attribution(actor, trace),
        )

    def take(self, actor: Actor, trace: Trace) -> None:
        """Another handler of the department takes over after a recusal."""
        self._open()
        party = self._party(actor.department)
        if party["state"] != "awaiting-handler":
            raise RoutingRefused(f"{party['name']} has no case to take over here")
        if actor.user in party["recused"]:
            raise RoutingRefused("you declared a conflict of interest in this case (Art. 28)")
        self.trigger_event(
            self.HandlerTook,
            department=_ref(party),
            role=party["role"],
            handler=actor.user,
            **attribution(actor, trace),
        )

    def report_part(self, summary: str, actor: Actor, trace: Trace) -> None:
        self._open()
        party = self._party(actor.department)
        if party["role"] != "co-handler" or party["state"] != "accepted":
            raise RoutingRefused("a co-handler reports its part once it accepted it")
        if not summary.strip():
            raise RoutingRefused("say what the department did", field="summary")
        self.trigger_event(
            self.PartReported,
            department=_ref(party),
            summary=summary.strip(),
            **attribution(actor, trace),
        )

    def withdraw(self, reason: str, actor: Actor, trace: Trace) -> None:
        if self.status != "withdrawn":
            self.trigger_event(self.Withdrawn, reason=reason, **attribution(actor, trace))

    # --- reading --------------------------------------------------------------------------

    def visible_to(self, department: str | None) -> bool:
        """An accused unit never reads the case (Art. 30)."""
        return department is None or department not in self.barred


def _received(window: ObjectionWindow, calendar: WorkCalendar) -> dict[str, Any]:
    """The moment departments receive the case — the time of the event that hands it to
    them, fixed now so that the deadline is counted from it — and until when they may
    object."""
    at = Assignment.Event.create_timestamp()
    return {"timestamp": at, "objection_due": window.due(at, calendar)}


def _ref(party: dict[str, Any]) -> dict[str, str]:
    return {"code": party["code"], "name": party["name"]}


def department_ref(department: Department) -> dict[str, str]:
    return {"code": department.code, "name": department.name}


def _departments(
    rule: DispatchRule, territory: Territory
) -> tuple[dict[str, str], list[dict[str, str]]] | None:
    found = [territory.department(c) for c in (rule.lead, *rule.co_handlers)]
    refs = [department_ref(d) for d in found if d is not None]
    if len(refs) != len(found):
        return None
    return refs[0], refs[1:]


def _because(
    rule: DispatchRule,
    version: str,
    category: str,
    location: dict[str, Any],
    lead: dict[str, str],
    passed_over: list[str] | None = None,
) -> str:
    legal = f" ({rule.legal_class})" if rule.legal_class else ""
    skipped = f"; passed over {', '.join(passed_over)}" if passed_over else ""
    return (
        f"rule {rule.rule_id} ({version}): {category}{legal} in {rule.scope} → "
        f"{lead['name']}; case located at {_place(location)}{skipped}"
    )


def reroute_by_catalogue(
    assignment: Assignment,
    territory: Territory,
    rules: tuple[DispatchRule, ...],
    version: str,
    excluded: frozenset[str],
) -> tuple[DispatchRule, dict[str, str], list[dict[str, str]], str] | None:
    """The catalogue's choice for the case with some departments excluded, or None."""
    if assignment.category is None or not assignment.location:
        return None
    rule, passed = choose(
        rules,
        assignment.category,
        Location.of(assignment.location),
        assignment.legal_class,
        excluded,
    )
    departments = _departments(rule, territory) if rule else None
    if rule is None or departments is None:
        return None
    lead, co = departments
    why = _because(rule, version, assignment.category, assignment.location, lead, passed)
    return rule, lead, co, why
