"""Routing's application service: one method per command — load, change, save.

Intake's events start and adjust assignments (registration, classification, acceptance
decisions, repeats), follow-up's overdue events escalate them, and departments, the
supervision office and leaders act on them through the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Tracking

from services.routing import catalogue as seed
from services.routing.calendar import CALENDAR_ID, PublishedCalendar
from services.routing.domain import (
    LEVELS,
    OBJECTION_WINDOW,
    Assignment,
    ObjectionWindow,
    RoutingRefused,
    accused_departments,
    reroute_by_catalogue,
)
from services.routing.inbox import Inbox
from services.routing.organisation import (
    CATALOGUE_ID,
    ORGANISATION_ID,
    Department,
    DispatchCatalogue,
    DispatchRule,
    Jurisdiction,
    Organisation,
    Window,
)
from shared.calendar import WorkCalendar, local_minute
from shared.domain import Actor, Trace, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.messages import (
    CalendarPublished,
    CaseAcceptanceDecided,
    CaseClassified,
    CaseOverdue,
    CaseRegistered,
    CaseRepeated,
    parse,
)
from shared.processing import TrackedApplication

ROUTING = Actor.service("routing")
A = TypeVar("A")

FOLLOWED = (
    CaseRegistered.TYPE,
    CaseClassified.TYPE,
    CaseAcceptanceDecided.TYPE,
    CaseRepeated.TYPE,
    CaseOverdue.TYPE,
    CalendarPublished.TYPE,
)


class RoutingApplication(TrackedApplication):
    name = "routing"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        objection_window: ObjectionWindow = OBJECTION_WINDOW,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.objection_window = objection_window
        self.inbox = Inbox(self)
        self._calendar: tuple[int, WorkCalendar] | None = None
        self.seed()

    # --- registry, catalogue and calendar ---------------------------------------------------

    def seed(self) -> None:
        """A new centre's registry, first catalogue and calendar (the built-in years until
        follow-up publishes one); idempotent and safe in several processes."""
        if self.load(ORGANISATION_ID) is None:
            org = Organisation.start()
            for j in seed.JURISDICTIONS:
                org.define_jurisdiction(j, by="seed")
            for d in seed.DEPARTMENTS:
                org.define_department(d, by="seed")
            for w in seed.WINDOWS:
                org.define_window(w, by="seed")
            with contextlib.suppress(IntegrityError):  # another process seeded it first
                self.save(org)
        if self.load(CATALOGUE_ID) is None:
            catalogue = DispatchCatalogue.start()
            catalogue.publish(list(seed.RULES), self.organisation(), seed.SEED_NOTE, by="seed")
            with contextlib.suppress(IntegrityError):
                self.save(catalogue)
        if self.load(CALENDAR_ID) is None:
            with contextlib.suppress(IntegrityError):
                self.save(PublishedCalendar.start())

    def organisation(self) -> Organisation:
        """The registry, to read: the cached object itself, shared and never changed in place
        (commands change a copy, see `_reference`; newer events make a new object, see
        `TrackedApplication.reference`)."""
        return self._reference(ORGANISATION_ID)  # type: ignore[no-any-return]

    def catalogue(self) -> DispatchCatalogue:
        """The dispatch catalogue, to read (shared like `organisation`)."""
        return self._reference(CATALOGUE_ID)  # type: ignore[no-any-return]

    def calendar(self) -> WorkCalendar:
        """The work calendar as follow-up last published it, over the built-in years; made
        again only when a publication was heard."""
        book: PublishedCalendar = self._reference(CALENDAR_ID)
        if self._calendar is None or self._calendar[0] != book.version:
            self._calendar = (book.version, book.calendar())
        return self._calendar[1]

    def _reference(self, aggregate_id: UUID, *, to_change: bool = False) -> Any:
        """Reference data every case reads: copied only for a command that changes it, since
        copying the registry for each routed case cost more than routing it."""
        try:
            return self.reference(aggregate_id, to_change=to_change)
        except AggregateNotFoundError:
            what = {ORGANISATION_ID: "organisation registry", CALENDAR_ID: "work calendar"}
            name = what.get(aggregate_id, "catalogue")
            raise NotFound(f"the {name} (start routing once to seed it)") from None

    def define_jurisdiction(self, jurisdiction: Jurisdiction, actor: Actor) -> Organisation:
        return self._change(
            self._organisation_to_change,
            lambda o: o.define_jurisdiction(jurisdiction, by=actor.user),
        )

    def define_department(self, department: Department, actor: Actor) -> Organisation:
        return self._change(
            self._organisation_to_change, lambda o: o.define_department(department, by=actor.user)
        )

    def define_window(self, window: Window, actor: Actor) -> Organisation:
        return self._change(
            self._organisation_to_change, lambda o: o.define_window(window, by=actor.user)
        )

    def publish_catalogue(
        self, rules: list[DispatchRule], note: str, actor: Actor
    ) -> DispatchCatalogue:
        org = self.organisation()
        return self._change(
            lambda: self._reference(CATALOGUE_ID, to_change=True),
            lambda c: c.publish(rules, org, note, by=actor.user),
        )

    def _organisation_to_change(self) -> Organisation:
        return self._reference(ORGANISATION_ID, to_change=True)  # type: ignore[no-any-return]

    # --- consuming other services' events ---------------------------------------------------

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point: one record from intake or follow-up, applied at most once."""
        if event.type not in FOLLOWED:
            return  # no effect, so nothing to remember
        message = parse(event.type, event.data)
        if isinstance(message, CalendarPublished):
            book: PublishedCalendar = self._reference(CALENDAR_ID, to_change=True)
            book.hear(message.year, message.holidays, message.make_up_days, message.published_at)
            self.save_tracked(tracking, book)
            return
        case_id = UUID(event.subject)
        trace = Trace(correlation_id=event.correlation_id, causation_id=event.id)
        assignment: Assignment | None = self.load(case_id)
        if isinstance(message, CaseRegistered):
            if assignment is not None:  # the same registration relayed twice
                self.save_tracked(tracking)
                return
            assignment = self._route(case_id, message, trace)
        elif assignment is None or assignment.status == "withdrawn":
            self.save_tracked(tracking)  # a case routed elsewhere, or no longer handled
            return
        elif isinstance(message, CaseClassified):
            self._classified(assignment, message, trace)
        elif isinstance(message, CaseAcceptanceDecided):
            if message.decision != "accept":
                why = message.reason or f"diverted to {message.diverted_to}"
                assignment.withdraw(f"{message.decision}d at intake: {why}", ROUTING, trace)
        elif isinstance(message, CaseRepeated):
            self._escalate_if_possible(
                assignment,
                "repeat",
                f"the petitioner came again ({message.repeat_count}× so far)",
                trace,
            )
        elif isinstance(message, CaseOverdue) and message.escalate:
            self._escalate_if_possible(
                assignment,
                "overdue",
                f"the {message.deadline} deadline passed at {local_minute(message.due_at)}",
                trace,
            )
        self.save_tracked(tracking, assignment)

    def _route(self, case_id: UUID, message: CaseRegistered, trace: Trace) -> Assignment:
        version, rules = self.catalogue().rules()
        assignment = Assignment.route(
            case_id=case_id,
            category=message.category,
            location=message.location.model_dump(),
            legal_class=message.legal_class,
            organisation=self.organisation(),
            rules=rules,
            rule_version=version,
            window=self.objection_window,
            calendar=self.calendar(),
            actor=ROUTING,
            trace=trace,
        )
        if message.group_size:
            self._escalate_if_possible(
                assignment,
                "group",
                f"a group petition of {message.group_size} people (Art. 20)",
                trace,
            )
        return assignment

    def _classified(self, assignment: Assignment, message: CaseClassified, trace: Trace) -> None:
        """An accusation never reaches the accused (Art. 30); a case whose legal class calls
        for another department (an accusation: discipline inspection) goes there."""
        org = self.organisation()
        changed = assignment.note_legal_class(message.legal_class, ROUTING, trace)
        if message.legal_class == "accusation":
            barred = accused_departments(message.accused, org)
            assignment.restrict(message.accused or "(not named)", barred, ROUTING, trace)
        if assignment.lead is not None and not changed:
            return
        version, rules = self.catalogue().rules()
        choice = reroute_by_catalogue(assignment, org, rules, version, frozenset(assignment.barred))
        if choice is None:
            return  # the supervision office dispatches it by hand
        rule, lead, co, why = choice
        if assignment.lead is not None and lead["code"] == assignment.lead["code"]:
            return
        assignment.dispatch(
            lead=lead,
            co_handlers=co,
            reason=why,
            trigger="confidentiality" if assignment.lead is None else "reclassified",
            rule=rule,
            rule_version=version,
            window=self.objection_window,
            calendar=self.calendar(),
            actor=ROUTING,
            trace=trace,
        )

    @staticmethod
    def _escalate_if_possible(
        assignment: Assignment, trigger: str, reason: str, trace: Trace
    ) -> None:
        if LEVELS.index(assignment.level) < len(LEVELS) - 1:
            assignment.escalate(trigger, reason, ROUTING, trace)

    # --- commands from people -------------------------------------------------------------

    def _on_case(self, case_id: UUID, change: Callable[[Assignment], object]) -> Assignment:
        return self._change(lambda: self.get_assignment(case_id), change)

    def accept(self, case_id: UUID, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.accept(actor, trace))

    def object(self, case_id: UUID, reason: str, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.object(reason, self.clock(), actor, trace))

    def review_objection(
        self,
        case_id: UUID,
        *,
        department: str,
        outcome: str,
        reason: str,
        lead: str | None,
        co_handlers: list[str],
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """overrule: the department handles its part; reroute: to the departments given, or
        the catalogue's choice without the objectors; escalate: a dispute for a joint meeting."""

        def review(a: Assignment) -> None:
            if a.parties.get(department, {}).get("state") != "objected":
                raise RoutingRefused(f"{department!r} has no objection to review", "department")
            if outcome == "overrule":
                a.overrule(department, reason, actor, trace)
            elif outcome == "escalate":
                a.escalate("objection-dispute", reason, actor, trace)
            elif outcome == "reroute":
                self._redispatch(a, lead, co_handlers, reason, "objection", actor, trace)
            else:
                raise RoutingRefused("outcome is overrule, reroute or escalate", "outcome")

        return self._on_case(case_id, review)

    def dispatch(
        self,
        case_id: UUID,
        *,
        lead: str,
        co_handlers: list[str],
        reason: str,
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """The supervision office dispatches a case by hand (from the manual queue, or to
        correct a routing)."""
        return self._on_case(
            case_id,
            lambda a: self._redispatch(
                a, lead, co_handlers, reason, "manual-dispatch", actor, trace
            ),
        )

    def _redispatch(
        self,
        a: Assignment,
        lead: str | None,
        co_handlers: list[str],
        reason: str,
        trigger: str,
        actor: Actor,
        trace: Trace,
    ) -> None:
        org = self.organisation()
        if lead is not None:
            a.dispatch(
                lead=org.department(lead).as_ref(),
                co_handlers=[org.department(c).as_ref() for c in co_handlers],
                reason=reason,
                trigger=trigger,
                window=self.objection_window,
                calendar=self.calendar(),
                actor=actor,
                trace=trace,
            )
            return
        version, rules = self.catalogue().rules()
        excluded = frozenset(a.objectors) | frozenset(a.barred)
        choice = reroute_by_catalogue(a, org, rules, version, excluded)
        if choice is None:
            raise RoutingRefused(
                "the catalogue has no other department for this case: name the lead", "lead"
            )
        rule, lead_ref, co, why = choice
        a.dispatch(
            lead=lead_ref,
            co_handlers=co,
            reason=f"{reason} — {why}",
            trigger=trigger,
            rule=rule,
            rule_version=version,
            window=self.objection_window,
            calendar=self.calendar(),
            actor=actor,
            trace=trace,
        )

    def escalate(self, case_id: UUID, reason: str, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.escalate("request", reason, actor, trace))

    def hold_joint_meeting(
        self,
        case_id: UUID,
        *,
        chair: str,
        departments: list[str],
        minutes: str,
        decisions: list[str],
        lead: str | None,
        co_handlers: list[str],
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """Record the meeting; if it decided who leads, that binds (Art. 24)."""
        org = self.organisation()

        def meet(a: Assignment) -> None:
            for code in departments:
                org.department(code)
            a.hold_joint_meeting(
                chair=chair,
                departments=departments,
                minutes=minutes,
                decisions=decisions,
                actor=actor,
                trace=trace,
            )
            if lead is not None:
                a.dispatch(
                    lead=org.department(lead).as_ref(),
                    co_handlers=[org.department(c).as_ref() for c in co_handlers],
                    reason=f"decided by the joint meeting chaired by {chair}",
                    trigger="joint-meeting",
                    window=self.objection_window,
                    calendar=self.calendar(),
                    actor=actor,
                    trace=trace,
                )

        return self._on_case(case_id, meet)

    def take_personally(
        self, case_id: UUID, leader: str, note: str, actor: Actor, trace: Trace
    ) -> Assignment:
        return self._on_case(case_id, lambda a: a.take_personally(leader, note, actor, trace))

    def recuse(self, case_id: UUID, reason: str, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.recuse(reason, actor, trace))

    def take(self, case_id: UUID, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.take(actor, trace))

    def report_part(self, case_id: UUID, summary: str, actor: Actor, trace: Trace) -> Assignment:
        return self._on_case(case_id, lambda a: a.report_part(summary, actor, trace))

    # --- reading --------------------------------------------------------------------------

    def get_assignment(self, case_id: UUID) -> Assignment:
        assignment = self.load(case_id)
        if not isinstance(assignment, Assignment):
            raise NotFound(f"an assignment for case {case_id}")
        return assignment

    def department_inbox(self, department: str, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        self.organisation().department(department)
        return self.inbox.query(department=department, **filters)
