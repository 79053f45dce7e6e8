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

from services.routing.calendar import CALENDAR_ID, PublishedCalendar
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
from services.routing.domain import (
    OBJECTION_WINDOW,
    VALUE_OBJECTS,
    Assignment,
    DepartmentRef,
    HandOff,
    ObjectionWindow,
    PartyState,
    ReviewOutcome,
    Role,
    RoutingRefused,
    Status,
    Trigger,
    reroute_by_catalogue,
)
from services.routing.inbox import Inbox, InboxEntry, InboxTables
from services.routing.organisation import (
    CATALOGUE_ID,
    ORGANISATION_ID,
    DispatchCatalogue,
    Organisation,
)
from shared.calendar import CHINA, WorkCalendar, local_minute
from shared.domain import Actor, Trace, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.messages import (
    CalendarPublished,
    CaseAcceptanceDecided,
    CaseClassified,
    CaseOverdue,
    CaseRegistered,
    CaseRegisteredV1,
    CaseRepeated,
    parse,
)
from shared.policy import CaseAccess, accused_departments
from shared.processing import TrackedApplication
from shared.territory import (
    DispatchRule,
    Entity,
    Layout,
    Location,
    Statistics,
    Territory,
    TerritoryDocument,
)

ROUTING = Actor.service("routing")
A = TypeVar("A")
T = TypeVar("T")

FOLLOWED = (
    CaseRegistered.TYPE,
    CaseRegisteredV1.TYPE,  # written by earlier releases; read as the current version
    CaseClassified.TYPE,
    CaseAcceptanceDecided.TYPE,
    CaseRepeated.TYPE,
    CaseOverdue.TYPE,
    CalendarPublished.TYPE,
)


class RoutingApplication(TrackedApplication):
    name = "routing"
    value_objects = VALUE_OBJECTS
    NOT_CASES = frozenset({ORGANISATION_ID, CATALOGUE_ID, CALENDAR_ID})

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        objection_window: ObjectionWindow = OBJECTION_WINDOW,
        inbox: InboxTables | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.objection_window = objection_window
        self.inbox = Inbox(self, inbox)
        self._calendar: tuple[int, WorkCalendar] | None = None
        self.seed()

    # --- the registry, the catalogue and the calendar -------------------------------------

    def seed(self) -> None:
        """The calendar routing counts with: the built-in years until follow-up publishes
        one; and a registry an earlier release recorded, published once for the services
        that now replicate it (idempotent, safe in several processes). The territory and the
        catalogue are an admin's to import (`onestop territory import`)."""
        if self.load(CALENDAR_ID) is None:
            with contextlib.suppress(IntegrityError):  # another process started it first
                self.save(PublishedCalendar.start())
        org = self.load(ORGANISATION_ID)
        if isinstance(org, Organisation) and org.unpublished:
            org.publish_again(by="upgrade")
            with contextlib.suppress(IntegrityError):  # another process did it first
                self.save(org)

    def organisation(self) -> Organisation:
        """The registry, to read: the cached object itself, shared and never changed in place
        (commands change a copy; newer events make a new object, see
        `TrackedApplication.reference`). Empty until an admin defines the territory."""
        found = self._reference(ORGANISATION_ID)
        return found if isinstance(found, Organisation) else Organisation()

    def territory(self) -> Territory:
        return self.organisation().territory

    def catalogue(self) -> DispatchCatalogue:
        """The dispatch catalogue, to read (shared like `organisation`)."""
        found = self._reference(CATALOGUE_ID)
        return found if isinstance(found, DispatchCatalogue) else DispatchCatalogue()

    def calendar(self) -> WorkCalendar:
        """The work calendar as follow-up last published it, over the built-in years; made
        again only when a publication was heard."""
        book = self._reference(CALENDAR_ID)
        if not isinstance(book, PublishedCalendar):
            return CHINA
        if self._calendar is None or self._calendar[0] != book.version:
            self._calendar = (book.version, book.calendar())
        return self._calendar[1]

    def _reference(self, aggregate_id: UUID, *, to_change: bool = False) -> object | None:
        """Reference data every case reads: copied only for a command that changes it, since
        copying the registry for each routed case cost more than routing it."""
        try:
            found: object = self.reference(aggregate_id, to_change=to_change)
        except AggregateNotFoundError:
            return None
        return found

    def _registry_to_change(self) -> tuple[Organisation, DispatchCatalogue]:
        org = self._reference(ORGANISATION_ID, to_change=True)
        catalogue = self._reference(CATALOGUE_ID, to_change=True)
        return (
            org if isinstance(org, Organisation) else Organisation.start(),
            catalogue if isinstance(catalogue, DispatchCatalogue) else DispatchCatalogue.start(),
        )

    def _registry_command(
        self, change: Callable[[Organisation, DispatchCatalogue], T], *, save: bool = True
    ) -> T:
        """Change the registry and the catalogue together, saved in one transaction."""

        def command() -> T:
            org, catalogue = self._registry_to_change()
            result = change(org, catalogue)
            if save:
                self.save(org, catalogue)
            return result

        return self._retrying(command)

    def define(self, item: Entity, actor: Actor) -> Territory:
        """Define, change or retire one place, department, line, window or category."""

        def define(org: Organisation, catalogue: DispatchCatalogue) -> Territory:
            org.define(item, actor.user, catalogue.rules()[1])
            return org.territory

        return self._registry_command(define)

    def define_layout(self, layout: Layout, actor: Actor) -> Territory:
        def define(org: Organisation, _: DispatchCatalogue) -> Territory:
            org.define_layout(layout, actor.user)
            return org.territory

        return self._registry_command(define)

    def define_statistics(self, statistics: Statistics, actor: Actor) -> Territory:
        def define(org: Organisation, _: DispatchCatalogue) -> Territory:
            org.define_statistics(statistics, actor.user)
            return org.territory

        return self._registry_command(define)

    def import_territory(
        self, document: TerritoryDocument, actor: Actor, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """A whole territory file, checked in full before anything is recorded, applied as
        one transaction; the same file again changes nothing (see `Organisation.apply_document`).
        Catalogue rules are added to those in force, or replace the rule of the same id."""

        def apply(org: Organisation, catalogue: DispatchCatalogue) -> dict[str, Any]:
            in_force = catalogue.rules()[1]
            rules = (
                in_force
                if document.rules is None
                else catalogue.merged(r for _, r in document.rules)
            )
            changed = org.apply_document(document, actor.user, rules)
            version = None
            if rules != in_force:
                note = document.note.strip() or "imported from a territory file"
                version = catalogue.publish(rules, org.territory, note, actor.user)
            return {
                "changed": changed,
                "catalogue_version": version or catalogue.rules()[0],
                "catalogue_changed": version is not None,
                "dry_run": dry_run,
            }

        return self._registry_command(apply, save=not dry_run)

    def publish_catalogue(
        self, rules: list[DispatchRule], note: str, actor: Actor
    ) -> DispatchCatalogue:
        def publish(org: Organisation, catalogue: DispatchCatalogue) -> DispatchCatalogue:
            catalogue.publish(rules, org.territory, note, by=actor.user)
            return catalogue

        return self._registry_command(publish)

    # --- consuming other services' events ---------------------------------------------------

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point: one record from intake or follow-up, applied at most once."""
        if event.type not in FOLLOWED:
            return  # no effect, so nothing to remember
        message = parse(event.type, event.data)
        if isinstance(message, CalendarPublished):
            found = self._reference(CALENDAR_ID, to_change=True)
            book = found if isinstance(found, PublishedCalendar) else PublishedCalendar.start()
            book.hear(message.year, message.holidays, message.make_up_days, message.published_at)
            self.save_tracked(tracking, book)
            return
        case_id = UUID(event.subject)
        trace = Trace(correlation_id=event.correlation_id, causation_id=event.id)
        assignment = self.load_case(case_id, Assignment)
        if isinstance(message, CaseRegistered):
            if assignment is not None:  # the same registration relayed twice
                self.save_tracked(tracking)
                return
            assignment = self._route(case_id, message, trace)
        elif assignment is None or assignment.status is Status.WITHDRAWN:
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
                Trigger.REPEAT,
                f"the petitioner came again ({message.repeat_count}× so far)",
                trace,
            )
        elif isinstance(message, CaseOverdue) and message.escalate:
            self._escalate_if_possible(
                assignment,
                Trigger.OVERDUE,
                f"the {message.deadline} deadline passed at {local_minute(message.due_at)}",
                trace,
            )
        self.save_tracked(tracking, assignment)

    def _route(self, case_id: UUID, message: CaseRegistered, trace: Trace) -> Assignment:
        version, rules = self.catalogue().rules()
        assignment = Assignment.route(
            case_id=case_id,
            category=message.category,
            location=Location(message.location.place, tuple(message.location.path)),
            legal_class=message.legal_class,
            territory=self.territory(),
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
                Trigger.GROUP,
                f"a group petition of {message.group_size} people (Art. 20)",
                trace,
            )
        return assignment

    def _classified(self, assignment: Assignment, message: CaseClassified, trace: Trace) -> None:
        """An accusation never reaches the accused (Art. 30); a case whose legal class calls
        for another department (an accusation: discipline inspection) goes there."""
        territory = self.territory()
        changed = assignment.note_legal_class(message.legal_class, ROUTING, trace)
        if message.legal_class == "accusation":
            barred = accused_departments(message.accused, territory)
            assignment.restrict(message.accused or "(not named)", barred, ROUTING, trace)
        if assignment.lead is not None and not changed:
            return
        version, rules = self.catalogue().rules()
        choice = reroute_by_catalogue(assignment, territory, rules, version, assignment.barred)
        if choice is None:
            return  # the supervision office dispatches it by hand
        if assignment.lead is not None and choice.lead.code == assignment.lead.code:
            return
        assignment.dispatch(
            lead=choice.lead,
            co_handlers=choice.co_handlers,
            reason=choice.reason,
            trigger=HandOff.CONFIDENTIALITY if assignment.lead is None else HandOff.RECLASSIFIED,
            rule=choice.rule,
            rule_version=version,
            handled_at=territory.handling_place(choice.rule.scope),
            window=self.objection_window,
            calendar=self.calendar(),
            actor=ROUTING,
            trace=trace,
        )

    @staticmethod
    def _escalate_if_possible(
        assignment: Assignment, trigger: Trigger, reason: str, trace: Trace
    ) -> None:
        if assignment.may_escalate:
            assignment.escalate(trigger, reason, ROUTING, trace)

    # --- commands from people -------------------------------------------------------------

    def _on_case(self, case_id: UUID, change: Callable[[Assignment], object]) -> Assignment:
        return self._change(lambda: self.get_assignment(case_id), change)

    def accept(self, cmd: AcceptAssignment) -> Assignment:
        return self._on_case(cmd.case_id, lambda a: a.accept(cmd.actor, cmd.trace))

    def object(self, cmd: ObjectToAssignment) -> Assignment:
        return self._on_case(
            cmd.case_id, lambda a: a.object(cmd.reason, self.clock(), cmd.actor, cmd.trace)
        )

    def review_objection(self, cmd: ReviewObjection) -> Assignment:
        """overrule: the department handles its part; reroute: to the departments given, or
        the catalogue's choice without the objectors; escalate: a dispute for a joint meeting."""

        def review(a: Assignment) -> None:
            a.check_objection_to_review(cmd.department)
            if cmd.outcome is ReviewOutcome.OVERRULE:
                a.overrule(cmd.department, cmd.reason, cmd.actor, cmd.trace)
            elif cmd.outcome is ReviewOutcome.ESCALATE:
                a.escalate(Trigger.OBJECTION_DISPUTE, cmd.reason, cmd.actor, cmd.trace)
            else:
                self._redispatch(
                    a,
                    cmd.lead,
                    cmd.co_handlers,
                    cmd.reason,
                    HandOff.OBJECTION,
                    cmd.actor,
                    cmd.trace,
                )

        return self._on_case(cmd.case_id, review)

    def dispatch(self, cmd: DispatchByHand) -> Assignment:
        """The supervision office dispatches a case by hand (from the manual queue, or to
        correct a routing)."""
        return self._on_case(
            cmd.case_id,
            lambda a: self._redispatch(
                a,
                cmd.lead,
                cmd.co_handlers,
                cmd.reason,
                HandOff.MANUAL_DISPATCH,
                cmd.actor,
                cmd.trace,
            ),
        )

    def _redispatch(
        self,
        a: Assignment,
        lead: str | None,
        co_handlers: tuple[str, ...],
        reason: str,
        trigger: HandOff,
        actor: Actor,
        trace: Trace,
    ) -> None:
        org = self.organisation()
        if lead is not None:
            chosen = org.department(lead, "lead")
            a.dispatch(
                lead=DepartmentRef.of(chosen),
                co_handlers=_refs(org, co_handlers, "co_handlers"),
                reason=reason,
                trigger=trigger,
                window=self.objection_window,
                calendar=self.calendar(),
                actor=actor,
                trace=trace,
                handled_at=org.territory.handling_place(chosen.place),
            )
            return
        version, rules = self.catalogue().rules()
        excluded = a.objectors | a.barred
        choice = reroute_by_catalogue(a, org.territory, rules, version, excluded)
        if choice is None:
            raise RoutingRefused(
                "the catalogue has no other department for this case: name the lead", "lead"
            )
        a.dispatch(
            lead=choice.lead,
            co_handlers=choice.co_handlers,
            reason=f"{reason} — {choice.reason}",
            trigger=trigger,
            rule=choice.rule,
            rule_version=version,
            handled_at=org.territory.handling_place(choice.rule.scope),
            window=self.objection_window,
            calendar=self.calendar(),
            actor=actor,
            trace=trace,
        )

    def escalate(self, cmd: Escalate) -> Assignment:
        return self._on_case(
            cmd.case_id, lambda a: a.escalate(Trigger.REQUEST, cmd.reason, cmd.actor, cmd.trace)
        )

    def hold_joint_meeting(self, cmd: HoldJointMeeting) -> Assignment:
        """Record the meeting; if it decided who leads, that binds (Art. 24)."""
        org = self.organisation()

        def meet(a: Assignment) -> None:
            _refs(org, cmd.departments, "departments")
            a.hold_joint_meeting(
                chair=cmd.chair,
                departments=cmd.departments,
                minutes=cmd.minutes,
                decisions=cmd.decisions,
                actor=cmd.actor,
                trace=cmd.trace,
            )
            if cmd.lead is not None:
                chosen = org.department(cmd.lead, "lead")
                a.dispatch(
                    lead=DepartmentRef.of(chosen),
                    co_handlers=_refs(org, cmd.co_handlers, "co_handlers"),
                    reason=f"decided by the joint meeting chaired by {cmd.chair}",
                    trigger=HandOff.JOINT_MEETING,
                    window=self.objection_window,
                    calendar=self.calendar(),
                    actor=cmd.actor,
                    trace=cmd.trace,
                    handled_at=org.territory.handling_place(chosen.place),
                )

        return self._on_case(cmd.case_id, meet)

    def take_personally(self, cmd: TakePersonally) -> Assignment:
        return self._on_case(
            cmd.case_id, lambda a: a.take_personally(cmd.actor.user, cmd.note, cmd.actor, cmd.trace)
        )

    def recuse(self, cmd: Recuse) -> Assignment:
        return self._on_case(cmd.case_id, lambda a: a.recuse(cmd.reason, cmd.actor, cmd.trace))

    def take_over(self, cmd: TakeOver) -> Assignment:
        return self._on_case(cmd.case_id, lambda a: a.take_over(cmd.actor, cmd.trace))

    def report_part(self, cmd: ReportPart) -> Assignment:
        return self._on_case(
            cmd.case_id, lambda a: a.report_part(cmd.summary, cmd.actor, cmd.trace)
        )

    # --- reading --------------------------------------------------------------------------

    def get_assignment(self, case_id: UUID) -> Assignment:
        assignment = self.load(case_id)
        if not isinstance(assignment, Assignment):
            raise self.case_not_found(case_id)
        return assignment

    def case_not_found(self, case_id: UUID) -> NotFound:
        return NotFound(f"an assignment for case {case_id}")

    def case_access(self, case_id: UUID) -> CaseAccess:
        def access(a: Assignment) -> CaseAccess:
            return CaseAccess(
                departments=frozenset(a.parties),
                barred=frozenset(a.barred),
                handed_on_by=frozenset(t.from_lead.code for t in a.transfers),
            )

        try:  # read in place: every request about a case asks this first
            return self.peek(case_id, Assignment, access)
        except AggregateNotFoundError:
            raise self.case_not_found(case_id) from None

    def department_inbox(
        self,
        department: str,
        *,
        state: PartyState | None = None,
        role: Role | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[InboxEntry], int]:
        """A registered department's inbox (see `Inbox.query`)."""
        self.organisation().department(department)
        return self.inbox.query(
            department=department, state=state, role=role, limit=limit, offset=offset
        )


def _refs(org: Organisation, codes: tuple[str, ...], field: str) -> tuple[DepartmentRef, ...]:
    """The departments a command names in the list `field`; an unknown one is refused by
    its place in that list (`co_handlers.1`)."""
    return tuple(
        DepartmentRef.of(org.department(code, f"{field}.{i}")) for i, code in enumerate(codes)
    )
