"""Follow-up's application service: every case's clock, its handling to an outcome, return
visits, review, statistics, and the audit trail of every hand-off."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from services.followup.domain import (
    CALENDAR_ID,
    CaseHistory,
    FollowUpCase,
    HolidayCalendar,
    Rules,
    Verification,
    causal_order,
    history_id,
)
from services.followup.ledger import Ledger, statistics
from services.followup.policy import STANDARD, Policy
from shared.casecode import code_hash
from shared.domain import Actor, Trace, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.messages import (
    CalendarPublished,
    CaseAcceptanceDecided,
    CaseAssigned,
    CaseAwaitingManualDispatch,
    CaseEscalated,
    CaseRegistered,
    CaseRegisteredV1,
    CaseRepeated,
    CaseRestricted,
    PartReported,
    parse,
)
from shared.processing import TrackedApplication
from shared.registry import hear_registry, hears_registry, replicated_territory
from shared.territory import Statistics, Territory

log = logging.getLogger("onestop.followup")
FOLLOWUP = Actor.service("followup")


def history_entry(event: CloudEvent) -> dict[str, Any]:
    """What an auditor sees of one event: who, what, when, which service, and its cause."""
    return {
        "event_id": event.id,
        "service": event.service,
        "type": event.type,
        "time": event.time.isoformat(),
        "actor": event.actor.as_dict(),
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "data": event.data,
    }


NOT_OF_A_CASE = (CalendarPublished.TYPE,)
"""Events on the topics follow-up hears that are about no case: its own calendar's."""

NOTED = (
    CaseRegistered.TYPE,
    CaseRegisteredV1.TYPE,  # written by earlier releases; read as the current version
    CaseAcceptanceDecided.TYPE,
    CaseAssigned.TYPE,
    CaseAwaitingManualDispatch.TYPE,
    CaseEscalated.TYPE,
    CaseRepeated.TYPE,
    PartReported.TYPE,
    CaseRestricted.TYPE,
)
"""The events that change a case's status or clock; every event goes into the history."""


class FollowUpApplication(TrackedApplication):
    name = "followup"
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}
    """Fewer than the other services: a case here is two aggregates, one of them the whole
    audit trail, and a case's events arrive within seconds of each other; the ledger keeps
    what the clock needs of every case. With 2,000, follow-up's peak in `make bench` was
    201 MB against its 200 MB budget (the ledger grows with every case it knows)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        policy: Policy = STANDARD,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.policy = policy
        self.ledger = Ledger(self)
        self._rules: tuple[float, Rules] | None = None
        self._failing: dict[UUID, float] = {}  # case → when to try firing its clocks again

    # --- the rules of the day ------------------------------------------------------------

    def _calendar_to_change(self) -> HolidayCalendar:
        """A copy: the cached calendar is shared by every reader."""
        try:
            return self.reference(CALENDAR_ID, to_change=True)  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            return HolidayCalendar.start()

    RULES_TTL = 30.0  # seconds a published holiday year may take to reach another process

    def rules(self) -> Rules:
        """The policy with the work calendar as published; read again at most every
        RULES_TTL seconds (at once after this process publishes)."""
        if self._rules is None or self._rules[0] < time.monotonic():
            try:
                calendar = self.reference(CALENDAR_ID).calendar()
            except AggregateNotFoundError:  # none published yet: the built-in years
                calendar = HolidayCalendar.start().calendar()
            self._rules = (time.monotonic() + self.RULES_TTL, Rules(self.policy, calendar))
        return self._rules[1]

    def publish_holidays(
        self,
        year: int,
        holidays: list[date],
        make_up_days: list[date],
        actor: Actor,
        trace: Trace,
    ) -> HolidayCalendar:
        book = self._change(
            self._calendar_to_change,
            lambda b: b.publish(year, holidays, make_up_days, actor, trace),
        )
        self._rules = None
        return book

    # --- consuming every service's events --------------------------------------------------

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point for all three services' events, each applied at most once;
        changes to the registry of the territory are kept, not recorded in a case's history."""
        if hears_registry(event):
            hear_registry(self, event, tracking)
            return
        if event.type in NOT_OF_A_CASE:
            return  # no effect, so nothing to remember
        case_id = UUID(event.subject)
        history = self._get(history_id(case_id), CaseHistory) or CaseHistory.start(case_id)
        if not history.record(history_entry(event)):  # already recorded, with its effects
            self.save_tracked(tracking)
            return
        case = self._get(case_id, FollowUpCase) or FollowUpCase.open(case_id)
        self._note(
            case,
            event.type,
            event.data,
            Trace(correlation_id=event.correlation_id, causation_id=event.id),
            self.rules(),
        )
        self.save_tracked(tracking, history, case)

    @staticmethod
    def _note(
        case: FollowUpCase, type_: str, data: dict[str, Any], trace: Trace, rules: Rules
    ) -> None:
        """What one event from another service means for the case's status and clock."""
        if type_ not in NOTED:
            return
        message = parse(type_, data)
        if isinstance(message, CaseRegistered):
            case.note_registration(
                subject=message.subject,
                category=message.category,
                location=message.location.model_dump(),
                registered_at=message.registered_at,
                first_receiver=message.first_receiver,
                trace=trace,
                notice_required=message.notice_required,
                channel=message.channel,
                group_size=message.group_size,
                petitioner_ids=tuple(message.petitioner_ids),
                lookup_code_hash=message.lookup_code_hash,
                rules=rules,
            )
        elif isinstance(message, CaseAcceptanceDecided):
            case.note_acceptance(message.decision, message.decided_at, trace, rules)
        elif isinstance(message, CaseAssigned):
            case.note_assignment(
                lead=message.lead.model_dump(),
                co_handlers=[d.model_dump() for d in message.co_handlers],
                assigned_at=message.assigned_at,
                trace=trace,
                rules=rules,
            )
        elif isinstance(message, CaseAwaitingManualDispatch):
            case.note_manual_dispatch(message.reason)
        elif isinstance(message, CaseEscalated):
            case.note_escalation(message.level, message.escalated_at)
        elif isinstance(message, CaseRepeated):
            case.note_repeat(message.repeated_at)
        elif isinstance(message, CaseRestricted):
            case.note_restriction(message.barred_departments)
        elif isinstance(message, PartReported):
            case.note_part(message.department.code, message.summary, message.reported_at)

    # --- the clock ------------------------------------------------------------------------

    def fire_due(self) -> int:
        """Send every reminder and report every breach due by now; returns how many fired.
        Safe to call from several processes: each case's own events say what already fired,
        and a concurrent firing loses on the version and finds nothing left to do."""
        now = self.clock()
        fired = 0
        for case_id in self.ledger.due(now):
            if self._failing.get(case_id, 0.0) > time.monotonic():
                continue
            try:
                fired += self._fire(case_id, now)
            except Exception:
                log.exception("could not fire the clocks of case %s; next try in 5 min", case_id)
                self._failing[case_id] = time.monotonic() + 300
        return fired

    def _fire(self, case_id: UUID, now: datetime) -> int:
        trace = Trace(correlation_id=f"clock:{case_id}:{now.isoformat()}")
        counted: list[int] = []
        self._change(lambda: self.get_case(case_id), lambda c: counted.append(c.fire(now, trace)))
        return counted[-1]

    # --- commands from people ----------------------------------------------------------------

    def _on_case(
        self, case_id: UUID, change: Callable[[FollowUpCase, datetime, Rules], object]
    ) -> Any:
        """Run a command on the case's fresh state, at the clock's time, under today's rules."""
        rules = self.rules()
        return self._change(
            lambda: self.get_case(case_id), lambda c: change(c, self.clock(), rules)
        )

    def file_plan(
        self, case_id: UUID, summary: str, major: bool, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id, lambda c, now, rules: c.file_plan(summary, major, actor, trace, now, rules)
        )

    def approve_long_term_plan(
        self, case_id: UUID, summary: str, target: datetime, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.approve_long_term_plan(
                summary, target, actor, trace, now, rules
            ),
        )

    def report_progress(
        self, case_id: UUID, summary: str, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id, lambda c, now, rules: c.report_progress(summary, actor, trace, now, rules)
        )

    def record_outcome(
        self,
        case_id: UUID,
        *,
        form: str,
        opinion: str | None,
        summary: str,
        actor: Actor,
        trace: Trace,
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.record_outcome(
                form=form,
                opinion=opinion,
                summary=summary,
                actor=actor,
                trace=trace,
                at=now,
                rules=rules,
            ),
        )

    def record_satisfaction(
        self,
        case_id: UUID,
        *,
        satisfaction: str,
        notes: str,
        source: str,
        actor: Actor,
        trace: Trace,
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.record_satisfaction(
                satisfaction=satisfaction,
                notes=notes,
                source=source,
                actor=actor,
                trace=trace,
                at=now,
                rules=rules,
            ),
        )

    def record_cease_commitment(
        self, case_id: UUID, note: str, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id, lambda c, now, rules: c.record_cease_commitment(note, actor, trace, now)
        )

    def close_out(self, case_id: UUID, actor: Actor, trace: Trace) -> FollowUpCase:
        return self._on_case(case_id, lambda c, now, rules: c.close_out(actor, trace, now, rules))

    def request_review(
        self, case_id: UUID, level: str, organ: str, reason: str, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.request_review(level, organ, reason, actor, trace, now, rules),
        )

    def decide_review(
        self, case_id: UUID, decision: str, summary: str, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.decide_review(decision, summary, actor, trace, now, rules),
        )

    def pause_clocks(self, case_id: UUID, reason: str, actor: Actor, trace: Trace) -> FollowUpCase:
        return self._on_case(
            case_id, lambda c, now, rules: c.pause_clocks(reason, actor, trace, now)
        )

    def resume_clocks(self, case_id: UUID, actor: Actor, trace: Trace) -> FollowUpCase:
        return self._on_case(case_id, lambda c, now, rules: c.resume_clocks(actor, trace, now))

    def extend(
        self, case_id: UUID, kind: str, days: int, reason: str, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id, lambda c, now, rules: c.extend(kind, days, reason, actor, trace, now, rules)
        )

    def issue_supervision_notice(
        self, case_id: UUID, text: str, department: str | None, actor: Actor, trace: Trace
    ) -> FollowUpCase:
        return self._on_case(
            case_id,
            lambda c, now, rules: c.issue_supervision_notice(text, department, actor, trace, now),
        )

    # --- the petitioner, with the case code ----------------------------------------------

    def case_by_code(self, code: str) -> FollowUpCase:
        case_id = self.ledger.by_code(code_hash(code))
        if case_id is None:
            raise NotFound("a case with this code")
        return self.get_case(case_id)

    def rate_by_code(self, code: str, satisfaction: str, comment: str) -> FollowUpCase:
        case = self.case_by_code(code)
        petitioner = Actor(user="petitioner", role="petitioner")
        trace = Trace(correlation_id=f"petitioner-rating:{case.id}")
        return self.record_satisfaction(
            case.id,
            satisfaction=satisfaction,
            notes=comment,
            source="petitioner",
            actor=petitioner,
            trace=trace,
        )

    # --- reading ----------------------------------------------------------------------------

    def statistics(
        self, start: datetime, end: datetime, by: str, definitions: Statistics
    ) -> list[dict[str, Any]]:
        return statistics(
            self.ledger.all_facts(),
            start=start,
            end=end,
            by=by,
            now=self.clock(),
            territory=self.territory(),
            definitions=definitions,
        )

    def territory(self) -> Territory:
        """The centre's territory, as routing's registry last told it."""
        return replicated_territory(self)

    def get_case(self, case_id: UUID, as_of: datetime | None = None) -> FollowUpCase:
        """The case now, or as it stood at `as_of`: from its own events up to then; before
        follow-up had noted anything, from the other services' events in its history."""
        case = self._get(case_id, FollowUpCase)
        if as_of is None:
            if case is None:
                raise NotFound(f"case {case_id}")
            return case  # type: ignore[no-any-return]
        version = 0
        for event in self.events.get(case_id):
            if event.timestamp > as_of:  # type: ignore[attr-defined]
                break
            version = event.originator_version
        if version:
            return self.repository.get(case_id, version=version)  # type: ignore[no-any-return]
        entries, _ = self.history(case_id, as_of)
        if not entries:
            raise NotFound(f"case {case_id} as of {as_of.isoformat()}")
        past = FollowUpCase.open(case_id)
        for entry in entries:
            trace = Trace(entry["correlation_id"], entry["event_id"])
            self._note(past, entry["type"], entry["data"], trace, self.rules())
        return past

    def history(
        self, case_id: UUID, as_of: datetime | None = None
    ) -> tuple[list[dict[str, Any]], Verification]:
        """Every event about the case, in causal order, rebuilt from the stored events,
        with the result of checking the hash chain."""
        history = self._get(history_id(case_id), CaseHistory)
        if history is None:
            raise NotFound(f"history of case {case_id}")
        entries = history.entries
        if as_of is not None:
            entries = [e for e in entries if datetime.fromisoformat(e["time"]) <= as_of]
        return causal_order(entries), history.verify()

    def _get(self, aggregate_id: UUID, kind: type[Any]) -> Any:
        aggregate = self.load(aggregate_id)
        assert aggregate is None or isinstance(aggregate, kind)
        return aggregate
