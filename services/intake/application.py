"""Intake's application service: one method per command — build or load, change, save."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import orjson
from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.persistence import IntegrityError, Tracking

from services.intake.domain import (
    ApiKeys,
    Case,
    CaseIsFinal,
    Channel,
    InvalidCase,
    Petitioner,
    check_id_number,
    check_person,
    normalise_phone,
)
from services.intake.index import CaseIndex, IndexStore, Likeness, MemoryIndexStore, Query
from services.intake.queue import (
    DayView,
    Layout,
    LayoutView,
    QueueDay,
    Ticket,
    day_id,
    layout_of,
)
from shared.batching import GroupCommitter, SingleWriter
from shared.calendar import LOCAL
from shared.casecode import case_code, code_hash
from shared.domain import Actor, DomainError, Problem, Trace, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.keys import Keys
from shared.messages import (
    CaseAssigned,
    CaseAwaitingManualDispatch,
    CaseClosedOut,
    CaseFinal,
    CaseReopened,
    OutcomeRecorded,
    parse,
)
from shared.processing import TrackedApplication
from shared.registry import hear_registry, hears_registry, replicated_territory
from shared.territory import Location, Territory

T = TypeVar("T")
A = TypeVar("A")

DUPLICATE_WINDOW = timedelta(days=180)
"""How far back a submission is compared with earlier cases of the same place and subject."""

API_KEYS_ID = uuid5(NAMESPACE_URL, "onestop:intake:api-keys")
INTAKE = Actor.service("intake")


class PossibleDuplicates(DomainError):
    """Likely earlier cases exist: the clerk links the submission or says why it is new."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(candidates)} earlier case(s) look like this one: link the submission to one "
            "of them, or register it as new with a reason (duplicate_decision)",
            field="duplicate_decision",
        )
        self.candidates = candidates


class IdempotencyConflict(DomainError):
    """The same idempotency key or external reference came with a different submission."""


@dataclass(frozen=True)
class Submission:
    """What arrived at the door, from any channel, before it is a case."""

    channel: str
    subject: str
    description: str
    category: str
    location: dict[str, Any]
    petitioners: list[dict[str, Any]] = field(default_factory=list)
    group: dict[str, Any] | None = None
    legal_class: str | None = None
    addressed_to: str | None = None
    external: dict[str, Any] | None = None
    idempotency_key: str | None = None
    duplicate_decision: dict[str, Any] | None = None
    fingerprint: str | None = None


@dataclass
class Outcome:
    """What became of a submission: `registered` (a new case), `existing` (a retried
    submission that already made its case), `linked` (a repeat of an earlier case, no new
    case) or `refused` (a repeat of a matter that is final, Art. 36)."""

    outcome: str
    case: Case
    petitioners: list[Petitioner] = field(default_factory=list)


class BlindIndex:
    """Keyed hashes that find a person again without storing a readable key (ID number,
    phone); the key is the petitioner-id key (`shared.keys`), for nothing else."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def uuid(self, kind: str, value: str) -> UUID:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).digest()
        return UUID(bytes=digest[:16], version=4)


def fingerprint(content: object) -> str:
    """A submission's content, to tell a retry from a different submission under one key."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


OPINIONS = {"support": "支持", "explain": "解释说明", "not-support": "不予支持"}
HEARD = (
    CaseAssigned.TYPE,
    CaseAwaitingManualDispatch.TYPE,
    OutcomeRecorded.TYPE,
    CaseReopened.TYPE,
    CaseClosedOut.TYPE,
    CaseFinal.TYPE,
)
"""What routing and follow-up did that the petitioner is told at the window."""


def progress_of(message: Any) -> tuple[str, str]:
    """A stage and a sentence for the clerk and the petitioner (and Open311's status)."""
    if isinstance(message, CaseAssigned):
        co = ", ".join(d.name for d in message.co_handlers)
        return "assigned", message.lead.name + (f" (with {co})" if co else "")
    if isinstance(message, CaseAwaitingManualDispatch):
        return "awaiting-dispatch", "being matched to a department by hand"
    if isinstance(message, OutcomeRecorded):
        how = OPINIONS.get(message.opinion or "", "调解/和解协议")
        return "answered", f"{how}: {message.summary}"
    if isinstance(message, CaseReopened):
        return "reopened", f"handled again: {message.reason}"
    if isinstance(message, CaseClosedOut):
        return "closed", f"closed out ({message.basis})"
    assert isinstance(message, CaseFinal)
    return "final", message.summary


class IntakeApplication(TrackedApplication):
    name = "intake"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        keys: Keys | None = None,
        index_store: IndexStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        zone: ZoneInfo = LOCAL,
    ) -> None:
        super().__init__(env)
        self.committer: GroupCommitter | None = None
        # without keys (tests): keys of its own, that no other process shares
        self.blind = BlindIndex(keys.petitioner_id if keys else os.urandom(32))
        self._code_key = keys.case_code if keys else os.urandom(32)
        self.index = CaseIndex(self, index_store or MemoryIndexStore())
        self.clock = clock
        self.zone = zone
        self._days: dict[date, SingleWriter[QueueDay, Layout, DayView]] = {}
        self._days_lock = threading.Lock()
        self._layout_seen: tuple[Territory, LayoutView] | None = None

    def close(self) -> None:
        self.index.store.close()
        super().close()

    def use_group_commit(self, committer: GroupCommitter) -> None:
        """Save concurrent registrations together (see `shared.batching`)."""
        self.committer = committer

    def _save(self, *aggregates: Any, copy: bool = True) -> None:
        self._persist(*aggregates)
        self.remember(*aggregates, copy=copy)
        self.index.wake()

    def _persist(self, *aggregates: Any) -> None:
        """Durably save the aggregates' new events, with other requests' when grouping."""
        if self.committer:
            self.committer.save(*aggregates)
        else:
            self.save(*aggregates)

    # --- registration -------------------------------------------------------------------

    def register(self, submission: Submission, actor: Actor, trace: Trace) -> Outcome:
        """Register a submission, link it as a repeat, or refuse it — see `Outcome`."""
        case_id = self._idempotent_id(submission, actor)
        if case_id is not None and case_id in self.repository:
            return self._replayed(case_id, submission)
        try:
            return self._retrying(lambda: self._register(submission, actor, trace, case_id))
        except IntegrityError:
            if case_id is not None and case_id in self.repository:
                return self._replayed(case_id, submission)  # a concurrent identical submission
            raise

    def _idempotent_id(self, submission: Submission, actor: Actor) -> UUID | None:
        """A case id fixed by the sender's reference, so a retried submission finds its case."""
        external = submission.external or {}
        if external.get("system") and external.get("reference"):
            return uuid5(
                NAMESPACE_URL, f"onestop:case:external:{external['system']}:{external['reference']}"
            )
        if submission.idempotency_key:
            return uuid5(
                NAMESPACE_URL, f"onestop:case:key:{actor.user}:{submission.idempotency_key}"
            )
        return None

    def _replayed(self, case_id: UUID, submission: Submission) -> Outcome:
        case = self.get_case(case_id)
        if case.fingerprint != submission.fingerprint:
            raise IdempotencyConflict(
                "this idempotency key or external reference was already used for a different "
                f"submission (case {case_id}); use a new key for a new submission",
                field="Idempotency-Key" if submission.idempotency_key else "external.reference",
            )
        return Outcome("existing", case)

    def _register(
        self, submission: Submission, actor: Actor, trace: Trace, case_id: UUID | None
    ) -> Outcome:
        territory = self.territory()
        people, problems = self._people(submission)
        details = [d for d, _ in people]
        channel = Channel(submission.channel)
        problems += Case.check_submission(  # every field, before anything is saved
            territory,
            channel=channel,
            petitioners=submission.petitioners,  # as given: a bad one is named above
            group=submission.group,
            subject=submission.subject,
            description=submission.description,
            category=submission.category,
            location=submission.location,
            addressed_to=submission.addressed_to,
            external=submission.external,
        )
        if problems:
            raise InvalidCase.listing(problems)
        place = submission.location
        location = territory.locate(place["place"], place.get("lat"), place.get("long"))
        decision = submission.duplicate_decision
        if decision and decision.get("action") == "link":
            return self._link(decision, submission, people, actor, trace)
        # only people the registry knew before can have earlier cases (a case is saved
        # together with its petitioners' entries)
        known = [d["petitioner_id"] for d, p in people if p is not None and not p.is_new]
        review = self._review_duplicates(submission, location, known, decision)
        if review.get("refuse_for"):  # a system's repeat of a final matter: refused the same way
            link = {"action": "link", "case_id": review["refuse_for"]}
            return self._link(link, submission, people, actor, trace)
        case_id = case_id or uuid4()
        case = Case.register(
            channel=channel,
            petitioners=details,
            group=submission.group,
            subject=submission.subject,
            description=submission.description,
            category=submission.category,
            location=location,
            legal_class=submission.legal_class,
            addressed_to=submission.addressed_to,
            external=submission.external,
            fingerprint=submission.fingerprint,
            duplicate_review=review or None,
            actor=actor,
            trace=trace,
            case_id=case_id,
            lookup_code_hash=code_hash(self.case_code(case_id)),
        )
        petitioners = [p for _, p in people if p is not None]
        for person in petitioners:
            person.add_case(case.id, repeat=False)
        # Kept in the cache as they are, not copied (copying a new case costs as much as the
        # rest of its registration): the answer reads only the case's id, status, counts and
        # progress, which a fast-forward of the cached case could only move on.
        self._save(case, *petitioners, copy=False)
        return Outcome("registered", case, petitioners)

    def case_code(self, case_id: UUID) -> str:
        """The code the petitioner looks the case up with (printable again, never stored)."""
        return case_code(self._code_key, case_id)

    def _review_duplicates(
        self,
        submission: Submission,
        location: Location,
        known: list[str],
        decision: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Compare with earlier cases of the same petitioner, or the same place and category.

        A clerk decides about likely duplicates (`PossibleDuplicates`); another system's
        submission is registered with its candidates noted for a clerk to review. A repeat of
        a final matter needs new facts (Art. 36).
        """
        candidates = self.index.alike(
            Likeness(
                petitioner_ids=known,
                category=submission.category,
                location=location,
                since=self.clock() - DUPLICATE_WINDOW,
            )
        )
        final = [
            c for c in candidates if c["status"] == "final" and "same petitioner" in c["reasons"]
        ]
        if decision is None and candidates and submission.channel != Channel.SYSTEM:
            raise PossibleDuplicates(candidates)
        new_facts = ((decision or {}).get("new_facts") or "").strip() or None
        if decision is not None and not (decision.get("reason") or "").strip():
            raise InvalidCase(
                "say why the submission is a new matter and not one of the earlier cases",
                field="duplicate_decision.reason",
            )
        if final and not new_facts:
            if decision is None:
                return {"refuse_for": str(final[0]["case_id"])}
            raise CaseIsFinal(
                f"case {final[0]['case_id']} of this petitioner is final after re-review; the "
                "same facts are not accepted again (Art. 36) — link the submission to it, or "
                "state the new facts (duplicate_decision.new_facts)",
                field="duplicate_decision.new_facts",
            )
        if not (candidates or decision):
            return {}
        return {
            "candidates": [str(c["case_id"]) for c in candidates],
            "decision": "new" if decision else "unreviewed",
            "reason": (decision or {}).get("reason"),
            "new_facts": new_facts,
        }

    def _link(
        self,
        decision: dict[str, Any],
        submission: Submission,
        people: list[tuple[dict[str, Any], Petitioner | None]],
        actor: Actor,
        trace: Trace,
    ) -> Outcome:
        try:
            case = self.get_case(UUID(str(decision.get("case_id"))))
        except (ValueError, NotFound):
            raise InvalidCase(
                f"no case {decision.get('case_id')} to link to", field="duplicate_decision.case_id"
            ) from None
        petitioners = [p for _, p in people if p is not None]
        case.link_repeat(
            channel=submission.channel,
            petitioner_ids=[str(p.id) for p in petitioners],
            note=decision.get("note"),
            actor=actor,
            trace=trace,
        )
        for person in petitioners:
            person.add_case(case.id, repeat=True)
        self._save(case, *petitioners)
        return Outcome("refused" if case.final else "linked", case, petitioners)

    def _people(
        self, submission: Submission
    ) -> tuple[list[tuple[dict[str, Any], Petitioner | None]], list[Problem]]:
        """Each petitioner checked, found in or added to the registry, with their details as
        this case records them; and every problem with any of them."""
        if submission.group is not None:
            prefix = "group.representatives"
            fields = [f"{prefix}.{i}" for i in range(len(submission.petitioners))]
        else:
            fields = ["petitioner"] * len(submission.petitioners)
        people, problems = [], []
        for raw, at in zip(submission.petitioners, fields, strict=True):
            try:
                details = check_person(
                    raw, at, contact_required=submission.channel == Channel.VISIT
                )
            except InvalidCase as error:
                problems += error.problems
                continue
            person = self._registry_entry(details)
            if person is not None:
                details = {**person.as_dict(), "petitioner_id": str(person.id)}
            people.append((details, person))
        return people, problems

    def _registry_entry(self, details: dict[str, Any]) -> Petitioner | None:
        """Find the person by ID number (or phone, when no ID number is known); enrol them if
        new; bring their contact details up to date. Someone with neither stays anonymous."""
        if details.get("id_number"):
            key = self.blind.uuid("id", details["id_number"])
        elif details.get("phone"):
            key = self.blind.uuid("phone", details["phone"])
        else:
            return None
        try:
            person: Petitioner = self.repository.get(key)
        except AggregateNotFoundError:
            return Petitioner.enrol(key, details)
        person.update(details)
        return person

    # --- after registration -------------------------------------------------------------

    def classify(self, case_id: UUID, actor: Actor, trace: Trace, **classification: Any) -> Case:
        return self._change(
            lambda: self.get_case(case_id),
            lambda case: case.classify(actor=actor, trace=trace, **classification),
        )

    def decide_acceptance(self, case_id: UUID, actor: Actor, trace: Trace, **decision: Any) -> Case:
        return self._change(
            lambda: self.get_case(case_id),
            lambda case: case.decide_acceptance(actor=actor, trace=trace, **decision),
        )

    def territory(self) -> Territory:
        """The centre's territory, as routing's registry last told it."""
        return replicated_territory(self)

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point: what routing and follow-up did, as the petitioner is told
        it; and changes to the registry of the territory."""
        if hears_registry(event):
            hear_registry(self, event, tracking)
            return
        if event.type not in HEARD:
            return  # no effect, so nothing to remember: a replay after a restart ignores it again
        message = parse(event.type, event.data)
        case = self._find(UUID(event.subject), Case)
        if case is None:  # a case some other door registered: nothing to tell here
            self.save_tracked(tracking)
            return
        stage, summary = progress_of(message)
        trace = Trace(correlation_id=event.correlation_id, causation_id=event.id)
        case.note_progress(stage, summary, source_event=event.id, trace=trace)
        self.save_tracked(tracking, case)
        self.index.wake()

    # --- reading --------------------------------------------------------------------------

    def get_case(self, case_id: UUID) -> Case:
        case = self._find(case_id, Case)
        if case is None:
            raise NotFound(f"case {case_id}")
        return case

    def cases(self, query: Query) -> tuple[list[Case], int]:
        rows, total = self.index.search(query)
        return [self.get_case(r["case_id"]) for r in rows], total

    def petitioner(self, petitioner_id: UUID) -> Petitioner:
        person = self._find(petitioner_id, Petitioner)
        if person is None:
            raise NotFound(f"petitioner {petitioner_id}")
        return person

    def find_petitioner(self, *, id_number: str | None, phone: str | None) -> Petitioner:
        if id_number:
            key = self.blind.uuid("id", check_id_number(id_number, "id_number"))
        elif phone:
            key = self.blind.uuid("phone", normalise_phone(phone, "phone"))
        else:
            raise InvalidCase("give an id_number or a phone to look a petitioner up", "id_number")
        return self.petitioner(key)

    def _find(self, aggregate_id: UUID, kind: type[T]) -> T | None:
        aggregate = self.load(aggregate_id)
        return aggregate if isinstance(aggregate, kind) else None

    # --- API keys for Open311 -------------------------------------------------------------

    def issue_api_key(self, name: str, issued_by: str) -> str:
        """Returns the new key; only its hash is stored, so it is shown this once."""
        secret = "os_" + secrets.token_urlsafe(32)
        self._change(self._keys, lambda keys: keys.issue(name, api_key_hash(secret), issued_by))
        return secret

    def revoke_api_key(self, name: str, revoked_by: str) -> None:
        self._change(self._keys, lambda keys: keys.revoke(name, revoked_by))

    def _keys(self) -> ApiKeys:
        return self._find(API_KEYS_ID, ApiKeys) or ApiKeys.start(API_KEYS_ID)

    def api_keys(self) -> dict[str, dict[str, Any]]:
        keys = self._find(API_KEYS_ID, ApiKeys)
        return {
            n: {k: v for k, v in d.items() if k != "key_hash"}
            for n, d in (keys.keys if keys else {}).items()
        }

    def api_client(self, secret: str) -> str | None:
        """The name of the live key, or None for an unknown or revoked one."""
        keys = self._find(API_KEYS_ID, ApiKeys)
        return keys.holder(api_key_hash(secret)) if keys else None

    # --- the queue at the centre ----------------------------------------------------------
    # The day's queue has one writer in this process: see the module docstring of
    # `services.intake.queue` for why, and `shared.batching.SingleWriter` for how.

    def layout(self) -> Layout:
        """The centre's active lines and windows, from the territory routing's registry
        published, as a copy nothing changes (made again when the replica changes)."""
        territory = self.territory()
        seen = self._layout_seen
        if seen is None or seen[0] is not territory:  # a change makes a new territory object
            seen = self._layout_seen = (territory, layout_of(territory))
        return seen[1]

    def today(self) -> date:
        """The centre's local date: a ticket taken at 07:30 in Beijing is that Beijing day's."""
        return self.clock().astimezone(self.zone).date()

    def queue_today(self) -> DayView:
        return self._queue_day(self.today()).read()

    def issue_ticket(self, line: str, actor: Actor) -> Ticket:
        return self._queue_command(lambda day, layout: day.issue(line, layout, actor))

    def call_next(self, window: str, actor: Actor) -> Ticket | None:
        return self._queue_command(lambda day, layout: day.call_next(window, layout, actor))

    def transfer_ticket(self, number: str, to_window: str, reason: str, actor: Actor) -> Ticket:
        return self._queue_command(
            lambda day, layout: day.transfer(number, to_window, reason, layout, actor)
        )

    def finish_ticket(self, number: str, outcome: str, case_id: str | None) -> Ticket:
        return self._queue_command(lambda day, _: day.finish(number, outcome, case_id))

    def _queue_command(self, change: Callable[[QueueDay, Layout], T]) -> T:
        return self._queue_day(self.today()).run(change)

    def _queue_day(self, day: date) -> SingleWriter[QueueDay, Layout, DayView]:
        """The day's one writer in this process (the last two days' are kept: a request
        begun just before local midnight still finds yesterday's)."""
        with self._days_lock:
            writer = self._days.get(day)
            if writer is None:
                writer = self._days[day] = SingleWriter(
                    lambda: self._load_day(day),
                    self._persist,
                    fork=QueueDay.fork,
                    refresh=self._catch_up,
                    context=self.layout,
                    view=QueueDay.view,
                )
                for old in sorted(self._days)[:-2]:
                    del self._days[old]
            return writer

    def _load_day(self, day: date) -> QueueDay:
        """The day from the store, never from the cache: the writer's copy is its own."""
        stored = project_aggregate(None, self.events.get(day_id(day)))
        return cast(QueueDay, stored) if stored is not None else QueueDay.open(day)

    def _catch_up(self, queue: QueueDay) -> QueueDay:
        """The day with what another process saved of it since."""
        return project_aggregate(queue, self.events.get(queue.id, gt=queue.version)) or queue
