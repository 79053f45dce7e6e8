"""Follow-up's application service: every case's clock, its handling to an outcome, return
visits, review, statistics, and the audit trail of every hand-off."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from services.followup import wire
from services.followup.attachments import Blobs, MemoryBlobs, check_file
from services.followup.attempts import CodeAttempts, MemoryAttempts
from services.followup.commands import (
    ApproveLongTermPlan,
    AttachFile,
    CaseCommand,
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
from services.followup.domain import (
    CALENDAR_ID,
    VALUE_OBJECTS,
    CaseHistory,
    ChainLink,
    FollowUpCase,
    HistoryEntry,
    HolidayCalendar,
    Rules,
    Unit,
    Verification,
    causal_order,
    happened_at,
    history_id,
)
from services.followup.domain.vocabulary import RatingSource
from services.followup.ledger import Ledger, LedgerTables, StatisticsQuery, answer
from services.followup.policy import STANDARD, Policy
from shared.casecode import code_hash
from shared.domain import Actor, Trace, replayed, utcnow
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
    PetitionerErased,
    parse,
)
from shared.policy import CaseAccess
from shared.processing import TrackedApplication
from shared.registry import REPLICA_ID, hear_registry, hears_registry, replicated_territory
from shared.territory import Location, Statistics, Territory
from shared.vocabulary import Decision

log = logging.getLogger("onestop.followup")
FOLLOWUP = Actor.service("followup")
T = TypeVar("T")


def history_entry(event: CloudEvent) -> HistoryEntry:
    """What an auditor sees of one event: who, what, when, which service, and its cause."""
    return HistoryEntry(
        event_id=event.id,
        service=event.service,
        type=event.type,
        time=event.time,
        actor=event.actor,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        data=event.data,
    )


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


def record_own(case: FollowUpCase, history: CaseHistory) -> bool:
    """Put the case's new events that go on the wire into its history, as its other services'
    events are: the entry of the event exactly as it is published (it is the same event id,
    so hearing it back on follow-up's own topic records nothing twice). Saved with the case,
    each follows its cause in the history at once instead of after a round trip through
    Kafka, which cost a record, a transaction and a save of the history per event. Returns
    whether any was recorded."""
    recorded = False
    for event in case.pending_events:
        published = wire.to_cloudevent(event)
        if published is not None:  # as a consumer reads it: the wire's JSON, read back
            heard = CloudEvent.from_json(published.to_json())
            recorded = history.record(history_entry(heard)) or recorded
    return recorded


class FollowUpApplication(TrackedApplication):
    name = "followup"
    value_objects = VALUE_OBJECTS
    NOT_CASES = frozenset({CALENDAR_ID, REPLICA_ID})
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}
    """Fewer than the other services: a case here is two aggregates, one of them the whole
    audit trail, and a case's events arrive within seconds of each other."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        policy: Policy = STANDARD,
        ledger: LedgerTables | None = None,
        code_attempts: CodeAttempts | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.policy = policy
        self.ledger = Ledger(self, ledger)
        self.code_attempts = code_attempts or MemoryAttempts()
        """Wrong case codes per client address, counted alike by every copy of follow-up."""
        self._rules: tuple[int, Rules] | None = None
        """The rules of the day, with the calendar version they were made with."""
        self._failing: dict[UUID, float] = {}  # case → when to try firing its clocks again
        self.blobs: Blobs = MemoryBlobs()
        self.attachment_limit = 20 * 1024 * 1024
        self.checkpoints: Any = None
        """Its signed checkpoints (`services.followup.checkpoints.Checkpoints`), once wired."""

    def use_evidence(self, blobs: Blobs, attachment_limit: int, checkpoints: Any) -> None:
        """Where attachments are stored, how large one may be, and the checkpoints."""
        self.blobs = blobs
        self.attachment_limit = attachment_limit
        self.checkpoints = checkpoints

    def close(self) -> None:
        self.code_attempts.close()
        super().close()

    # --- the rules of the day ------------------------------------------------------------

    def _calendar_to_change(self) -> HolidayCalendar:
        """A copy: the cached calendar is shared by every reader."""
        try:
            return self.reference(CALENDAR_ID, to_change=True)
        except AggregateNotFoundError:
            return HolidayCalendar.start()

    def rules(self) -> Rules:
        """The policy with the work calendar as published, by this process or another: the
        calendar is brought up to date at each use (once per batch of records), and the rules
        are made again only when its version moved. A copy of follow-up that went on with the
        rules it made earlier would give cases deadlines by last year's holidays for as long
        as it kept them, though another copy had published the new year."""
        try:
            book: HolidayCalendar | None = self.reference(CALENDAR_ID)
        except AggregateNotFoundError:  # none published yet: the built-in years
            book = None
        version = book.version if book is not None else 0
        if self._rules is None or self._rules[0] != version:
            calendar = (book if book is not None else HolidayCalendar.start()).calendar()
            self._rules = (version, Rules(self.policy, calendar))
        return self._rules[1]

    def publish_holidays(self, command: PublishHolidays) -> HolidayCalendar:
        book = self._change(
            self._calendar_to_change,
            lambda b: b.publish(
                command.year, command.holidays, command.make_up_days, command.actor, command.trace
            ),
        )
        return book

    # --- consuming every service's events --------------------------------------------------

    def aggregates_of(self, event: CloudEvent) -> list[UUID]:
        """A case's follow-up and its history."""
        return [
            i for case_id in super().aggregates_of(event) for i in (case_id, history_id(case_id))
        ]

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point for all three services' events, each applied at most once;
        changes to the registry of the territory are kept, not recorded in a case's history."""
        if hears_registry(event):
            hear_registry(self, event, tracking)
            return
        if event.type in NOT_OF_A_CASE:
            return  # no effect, so nothing to remember
        case_id = UUID(event.subject)
        history = self._history(case_id) or CaseHistory.start(case_id)
        if not history.record(history_entry(event)):  # already recorded, with its effects
            self.save_tracked(tracking)
            return
        case = self.load_case(case_id, FollowUpCase) or FollowUpCase.open(case_id)
        if event.type == PetitionerErased.TYPE:
            self._erase(case, parse(event.type, event.data), event)
        self._note(
            case,
            event.type,
            event.data,
            Trace(correlation_id=event.correlation_id, causation_id=event.id),
            self.rules(),
        )
        record_own(case, history)
        self.save_tracked(tracking, history, case)

    def _save(self, *aggregates: Any) -> None:
        """A command's changes, and each changed case's own events in its history, in one
        transaction (see `record_own`)."""
        histories = []
        for aggregate in aggregates:
            if isinstance(aggregate, FollowUpCase) and aggregate.pending_events:
                history = self._history(aggregate.id) or CaseHistory.start(aggregate.id)
                if record_own(aggregate, history):
                    histories.append(history)
        super()._save(*aggregates, *histories)

    @staticmethod
    def _note(
        case: FollowUpCase, type_: str, data: dict[str, object], trace: Trace, rules: Rules
    ) -> None:
        """What one event from another service means for the case's status and clock."""
        if type_ not in NOTED:
            return
        message = parse(type_, data)
        if isinstance(message, CaseRegistered):
            case.note_registration(
                subject=message.subject,
                category=message.category,
                location=Location.of(message.location.model_dump()),
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
            case.note_acceptance(Decision(message.decision), message.decided_at, trace, rules)
        elif isinstance(message, CaseAssigned):
            case.note_assignment(
                lead=Unit(message.lead.code, message.lead.name),
                co_handlers=[Unit(d.code, d.name) for d in message.co_handlers],
                assigned_at=message.assigned_at,
                trace=trace,
                rules=rules,
            )
        elif isinstance(message, CaseAwaitingManualDispatch):
            case.note_manual_dispatch(message.reason, message.queued_at)
        elif isinstance(message, CaseEscalated):
            case.note_escalation(message.level, message.escalated_at)
        elif isinstance(message, CaseRepeated):
            case.note_repeat(message.repeated_at)
        elif isinstance(message, CaseRestricted):
            case.note_restriction(message.barred_departments, message.restricted_at)
        elif isinstance(message, PartReported):
            case.note_part(message.department.code, message.summary, message.reported_at)

    def _erase(self, case: FollowUpCase, message: Any, event: CloudEvent) -> None:
        """Intake erased a petitioner of the case: the bytes of the attachments holding their
        personal data are destroyed (before the case says so: a retried record finds them
        gone already and says the same)."""
        doomed = case.erasable_attachments(message.petitioner_id)
        for digest in doomed:
            if not any(
                a.sha256 == digest and a.petitioner_id != message.petitioner_id
                for a in case.attachments
            ):
                self.blobs.delete(digest)
        trace = Trace(correlation_id=event.correlation_id, causation_id=event.id)
        case.note_erasure(message.petitioner_id, doomed, FOLLOWUP, trace, message.erased_at)

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
        self, command: CaseCommand, change: Callable[[FollowUpCase, datetime, Rules], object]
    ) -> FollowUpCase:
        """Run a command on the case's fresh state, at the clock's time, under today's rules."""
        rules = self.rules()
        return self._change(
            lambda: self.get_case(command.case_id), lambda c: change(c, self.clock(), rules)
        )

    def file_plan(self, command: FilePlan) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.file_plan(
                command.summary, command.major, command.actor, command.trace, now, rules
            ),
        )

    def approve_long_term_plan(self, command: ApproveLongTermPlan) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.approve_long_term_plan(
                command.summary, command.target, command.actor, command.trace, now, rules
            ),
        )

    def report_progress(self, command: ReportProgress) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.report_progress(
                command.summary, command.actor, command.trace, now, rules
            ),
        )

    def record_outcome(self, command: RecordOutcome) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.record_outcome(
                form=command.form,
                opinion=command.opinion,
                summary=command.summary,
                actor=command.actor,
                trace=command.trace,
                at=now,
                rules=rules,
            ),
        )

    def record_return_visit(self, command: RecordReturnVisit) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.record_satisfaction(
                satisfaction=command.satisfaction,
                notes=command.notes,
                source=RatingSource.RETURN_VISIT,
                actor=command.actor,
                trace=command.trace,
                at=now,
                rules=rules,
            ),
        )

    def record_cease_commitment(self, command: RecordCeaseCommitment) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.record_cease_commitment(
                command.note, command.actor, command.trace, now
            ),
        )

    def close_out(self, command: CloseOut) -> FollowUpCase:
        return self._on_case(
            command, lambda c, now, rules: c.close_out(command.actor, command.trace, now, rules)
        )

    def record_visit(self, command: RecordVisit) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.record_visit(
                kind=command.kind,
                visited_by=command.visited_by,
                visited_at=command.visited_at or now,
                summary=command.summary,
                actor=command.actor,
                trace=command.trace,
                at=now,
            ),
        )

    def request_review(self, command: RequestReview) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.request_review(
                command.level,
                command.organ,
                command.reason,
                command.actor,
                command.trace,
                now,
                rules,
            ),
        )

    def decide_review(self, command: DecideReview) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.decide_review(
                command.decision, command.summary, command.actor, command.trace, now, rules
            ),
        )

    def pause_clocks(self, command: PauseClocks) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.pause_clocks(command.reason, command.actor, command.trace, now),
        )

    def resume_clocks(self, command: ResumeClocks) -> FollowUpCase:
        return self._on_case(
            command, lambda c, now, rules: c.resume_clocks(command.actor, command.trace, now)
        )

    def extend(self, command: ExtendDeadline) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.extend(
                command.kind,
                command.days,
                command.reason,
                command.actor,
                command.trace,
                now,
                rules,
            ),
        )

    def issue_supervision_notice(self, command: IssueSupervisionNotice) -> FollowUpCase:
        return self._on_case(
            command,
            lambda c, now, rules: c.issue_supervision_notice(
                command.text, command.department, command.actor, command.trace, now
            ),
        )

    def attach(self, command: AttachFile) -> FollowUpCase:
        """Check the file, store its bytes under their hash, then record it on the case: a
        refused file leaves nothing recorded (bytes stored for a refused attachment are an
        orphan no case names, kept by nothing)."""
        media_type = check_file(command.data, command.declared_type, self.attachment_limit)
        self.get_case(command.case_id).check_attachment(
            command.name, command.kind, command.petitioner_id, command.actor
        )
        digest = self.blobs.put(command.data)
        return self._on_case(
            command,
            lambda c, now, rules: c.add_attachment(
                sha256=digest,
                name=command.name,
                media_type=media_type,
                size=len(command.data),
                kind=command.kind,
                description=command.description,
                petitioner_id=command.petitioner_id,
                actor=command.actor,
                trace=command.trace,
                at=now,
            ),
        )

    def attachment_file(self, case_id: UUID, digest: str) -> tuple[Any, bytes | None]:
        """An attachment of the case and its bytes, checked against its hash (None: erased).
        Raises `Damaged` when the store's bytes are not the ones attached."""
        attachment = self.get_case(case_id).attachment(digest)
        if attachment is None:
            raise NotFound(f"attachment {digest} of case {case_id}")
        if attachment.erased_at is not None:
            return attachment, None
        return attachment, self.blobs.get(digest)

    # --- the petitioner, with the case code ----------------------------------------------

    def case_by_code(self, code: str) -> FollowUpCase:
        case_id = self.ledger.by_code(code_hash(code))
        if case_id is None:
            raise NotFound("a case with this code")
        return self.get_case(case_id)

    def rate_by_code(self, command: RateByCode) -> FollowUpCase:
        case = self.case_by_code(command.code)
        petitioner = Actor(user="petitioner", role="petitioner")
        trace = Trace(correlation_id=f"petitioner-rating:{case.id}")
        rules = self.rules()
        return self._change(
            lambda: self.get_case(case.id),
            lambda c: c.record_satisfaction(
                satisfaction=command.satisfaction,
                notes=command.comment,
                source=RatingSource.PETITIONER,
                actor=petitioner,
                trace=trace,
                at=self.clock(),
                rules=rules,
            ),
        )

    # --- reading ----------------------------------------------------------------------------

    def statistics(
        self, start: datetime, end: datetime, by: str, definitions: Statistics
    ) -> list[dict[str, Any]]:
        query = StatisticsQuery(start, end, by, self.clock(), self.territory(), definitions)
        return answer(self.ledger.tally(query), by, query.territory)

    def territory(self) -> Territory:
        """The centre's territory, as routing's registry last told it."""
        return replicated_territory(self)

    def case_not_found(self, case_id: UUID) -> NotFound:
        return NotFound(f"case {case_id}")

    def case_access(self, case_id: UUID) -> CaseAccess:
        """The case's facts as they are now — also for a view of a past moment: an
        accusation classified since is hidden in every past state too (Art. 30). Read in
        place: every request about a case asks this first, and a copy of a long
        case was most of a quick look's time."""
        try:
            return self.peek(case_id, FollowUpCase, lambda case: case.access)
        except AggregateNotFoundError:
            pass
        try:  # a history follow-up has no case for yet
            self.peek(history_id(case_id), CaseHistory, lambda _: None)
        except AggregateNotFoundError:
            raise self.case_not_found(case_id) from None
        return CaseAccess()

    def read_case(self, case_id: UUID, reader: Callable[[FollowUpCase], T]) -> T:
        """What `reader` makes of the case as it stands now, read in place (no copy): for
        quick looks that change nothing (`peek`)."""
        try:
            return self.peek(case_id, FollowUpCase, reader)
        except AggregateNotFoundError:
            raise self.case_not_found(case_id) from None

    def get_case(self, case_id: UUID, as_of: datetime | None = None) -> FollowUpCase:
        """The case now, or as it stood at `as_of`: from its own events up to the first
        that records something after then — what it noted of another service's event by
        when that event happened, as the case's history has it, not by when follow-up heard
        of it (`happened_at`); before follow-up had noted anything, from the other services'
        events in its history."""
        case = self.load_case(case_id, FollowUpCase)
        if as_of is None:
            if case is None:
                raise self.case_not_found(case_id)
            return case
        version = 0
        for event in self.events.get(case_id):
            if happened_at(event) > as_of:
                break
            version = event.originator_version
        if version:
            return self.repository.get(case_id, version=version)
        entries, _ = self.history(case_id, as_of)
        if not entries:
            raise NotFound(f"case {case_id} as of {as_of.isoformat()}")
        past = FollowUpCase.open(case_id)
        for link in entries:
            entry = link.entry
            trace = Trace(entry.correlation_id, entry.event_id)
            self._note(past, entry.type, entry.data, trace, self.rules())
        return past

    def history(
        self, case_id: UUID, as_of: datetime | None = None
    ) -> tuple[list[ChainLink], Verification]:
        """Every event about the case, in causal order, rebuilt from the stored events,
        with the result of checking the hash chain. Read in place (`read_case`'s way, no
        copy): copying a history of 200 entries was most of reading it."""

        def read(history: CaseHistory) -> tuple[list[ChainLink], Verification]:
            entries = history.entries  # links are immutable; `causal_order` makes a new list
            if as_of is not None:
                entries = [e for e in entries if e.entry.time <= as_of]
            return causal_order(entries), history.verify()

        try:
            return self.repository.read(history_id(case_id), read)
        except AggregateNotFoundError:
            raise NotFound(f"history of case {case_id}") from None

    def stored_history(self, case_id: UUID) -> CaseHistory | None:
        """The case's history as its stored events make it now, never from the cache: what
        a check of the store against a signed checkpoint must read."""
        history = replayed(None, self.events.get(history_id(case_id)))
        assert history is None or isinstance(history, CaseHistory)
        return history

    def _history(self, case_id: UUID) -> CaseHistory | None:
        return self.load_case(history_id(case_id), CaseHistory)
