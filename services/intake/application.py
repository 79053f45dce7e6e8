"""Intake's application service: one method per command — build or load, change, save."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Mapper, Tracking

from services.intake.commands import (
    CallNext,
    Classify,
    DecideAcceptance,
    ErasePetitioner,
    FinishTicket,
    IssueApiKey,
    IssueTicket,
    RegisterCase,
    RevokeApiKey,
    TransferTicket,
)
from services.intake.domain import (
    ERASED_NAME,
    VALUE_OBJECTS,
    ApiKey,
    ApiKeys,
    Case,
    CaseIsFinal,
    CasePetitioner,
    DuplicateAction,
    DuplicateReview,
    ErasureBasis,
    InvalidCase,
    PersonDetails,
    Petitioner,
    ReviewDecision,
    Status,
    check_id_number,
    erased_person,
    is_erased,
    normalise_phone,
)
from services.intake.erasure import (
    MemoryPersonKeys,
    PersonKeys,
    Sealed,
    Sealer,
    SealingMapper,
    redactor,
    rewrite_sealed,
)
from services.intake.index import CaseIndex, IndexStore, Likeness, MemoryIndexStore, Query
from services.intake.queue import (
    LAYOUT_ID,
    DayView,
    Layout,
    LayoutView,
    QueueDay,
    Ticket,
    day_id,
    layout_of,
)
from services.intake.reads import MemoryReadLog, PersonalDataRead, ReadLog
from shared.batching import GroupCommitter, SingleWriter
from shared.calendar import LOCAL
from shared.casecode import case_code, code_hash
from shared.domain import Actor, DomainError, Problem, Trace, replayed, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.keys import Keys
from shared.messages import (
    CaseAssigned,
    CaseAwaitingManualDispatch,
    CaseClosedOut,
    CaseFinal,
    CaseReopened,
    CaseRestricted,
    Contract,
    OutcomeRecorded,
    parse,
)
from shared.policy import CaseAccess, Sight, accused_departments, sight
from shared.processing import TrackedApplication
from shared.registry import REPLICA_ID, hear_registry, hears_registry, replicated_territory
from shared.territory import Location, Territory
from shared.vocabulary import Channel

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


OutcomeKind = Literal["registered", "existing", "linked", "refused"]


@dataclass
class Outcome:
    """What became of a submission: `registered` (a new case), `existing` (a retried
    submission that already made its case), `linked` (a repeat of an earlier case, no new
    case) or `refused` (a repeat of a matter that is final, Art. 36)."""

    outcome: OutcomeKind
    case: Case
    petitioners: list[Petitioner] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """A registration whose every rule held: its people in normal form, its place found."""

    command: RegisterCase
    people: tuple[PersonDetails, ...]
    location: Location


class BlindIndex:
    """Keyed hashes that find a person again without storing a readable key (ID number,
    phone); the key is the petitioner-id key (`shared.keys`), for nothing else."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def uuid(self, kind: str, value: str) -> UUID:
        digest = hmac.digest(self._key, f"{kind}:{value}".encode(), "sha256")
        return UUID(bytes=digest[:16], version=4)


def fingerprint(content: object) -> str:
    """A submission's content, to tell a retry from a different submission under one key."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


OPINIONS = {"support": "支持", "explain": "解释说明", "not-support": "不予支持"}
HEARD = (
    CaseAssigned.TYPE,
    CaseRestricted.TYPE,
    CaseAwaitingManualDispatch.TYPE,
    OutcomeRecorded.TYPE,
    CaseReopened.TYPE,
    CaseClosedOut.TYPE,
    CaseFinal.TYPE,
)
"""What routing and follow-up did that the petitioner is told at the window, and who may
see the case: the departments it was given to, the units an accusation is barred from."""


def progress_of(message: Contract) -> tuple[Status, str]:
    """A stage and a sentence for the clerk and the petitioner (and Open311's status)."""
    if isinstance(message, CaseAssigned):
        co = ", ".join(d.name for d in message.co_handlers)
        return Status.ASSIGNED, message.lead.name + (f" (with {co})" if co else "")
    if isinstance(message, CaseAwaitingManualDispatch):
        return Status.AWAITING_DISPATCH, "being matched to a department by hand"
    if isinstance(message, OutcomeRecorded):
        how = OPINIONS.get(message.opinion or "", "调解/和解协议")
        return Status.ANSWERED, f"{how}: {message.summary}"
    if isinstance(message, CaseReopened):
        return Status.REOPENED, f"handled again: {message.reason}"
    if isinstance(message, CaseClosedOut):
        return Status.CLOSED, f"closed out ({message.basis})"
    assert isinstance(message, CaseFinal)
    return Status.FINAL, message.summary


def personal_values(
    mapper: SealingMapper, kind: type, state: dict[str, Any], originator_id: UUID
) -> dict[str, Any]:
    """An event's state with each petitioner's personal data sealed under their own key
    (`services.intake.erasure`): a registration's petitioners, a registry entry's details."""
    if kind is Case.Registered:
        state["petitioners"] = tuple(
            p
            if is_erased(p.details)
            else replace(
                p, details=mapper.seal_value(p.subject(originator_id, i), p.details, "person")
            )
            for i, p in enumerate(state["petitioners"])
        )
    elif kind is Petitioner.Registered:
        subject = str(originator_id)
        for name in ("name", "id_number", "phone", "address"):
            if state.get(name) and state[name] != ERASED_NAME:
                shape = "name" if name == "name" else "field"
                state[name] = mapper.seal_value(subject, state[name], shape)
    elif kind is Petitioner.DetailsUpdated:
        subject = str(originator_id)
        state["changes"] = {
            name: mapper.seal_value(subject, value, "name" if name == "name" else "field")
            for name, value in state["changes"].items()
        }
    return state


def personal_subjects(event: Any) -> list[str]:
    """Whose keys `personal_values` seals the event's personal data under."""
    kind = type(event)
    if kind is Case.Registered:
        return [
            p.subject(event.originator_id, i)
            for i, p in enumerate(event.petitioners)
            if not is_erased(p.details)
        ]
    if kind is Petitioner.Registered or kind is Petitioner.DetailsUpdated:
        return [str(event.originator_id)]
    return []


def erased_value(shape: str) -> Any:
    """What a personal value reads as once its key is destroyed."""
    return {"person": erased_person(), "name": ERASED_NAME}.get(shape)


class IntakeApplication(TrackedApplication):
    name = "intake"
    value_objects = (*VALUE_OBJECTS, Sealed)
    NOT_CASES = frozenset({API_KEYS_ID, LAYOUT_ID, REPLICA_ID})
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "2000"}
    """Fewer than the default: a case here carries its petitioners' sealed details, and
    what comes back for it (routing's assignment, follow-up's progress) arrives within
    seconds of its registration — 20 s of registrations at 100/s. With 5,000 intake stood at
    196 MB after `make bench`, against a budget of 200."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        keys: Keys | None = None,
        index_store: IndexStore | None = None,
        read_log: ReadLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        zone: ZoneInfo = LOCAL,
        person_keys: PersonKeys | None = None,
        retention: timedelta | None = None,
    ) -> None:
        self.person_keys = person_keys or MemoryPersonKeys()
        self.sealer = Sealer(self.person_keys)
        self.retention = retention
        super().__init__(env)
        self.committer: GroupCommitter | None = None
        # without keys (tests): keys of its own, that no other process shares
        self.blind = BlindIndex(keys.petitioner_id if keys else os.urandom(32))
        self._code_key = keys.case_code if keys else os.urandom(32)
        self.index = CaseIndex(self, index_store or MemoryIndexStore())
        self.reads = read_log or MemoryReadLog()
        self.clock = clock
        self.zone = zone
        self._days: dict[date, SingleWriter[QueueDay, Layout, DayView]] = {}
        self._days_lock = threading.Lock()
        self._layout_seen: tuple[Territory, LayoutView] | None = None

    def construct_mapper(self) -> Mapper[UUID]:
        """Each petitioner's personal data sealed under their own key when stored."""
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=SealingMapper
        )
        assert isinstance(mapper, SealingMapper)
        mapper.sealer = self.sealer
        mapper.personal = personal_values
        mapper.erased = erased_value
        return mapper

    def close(self) -> None:
        self.index.store.close()
        self.reads.close()
        self.person_keys.close()
        super().close()

    def use_group_commit(self, committer: GroupCommitter) -> None:
        """Save concurrent registrations together (see `shared.batching`), with `save_group`."""
        self.committer = committer

    def save_group(self, *events: Any) -> None:
        """What the group committer saves: the events of concurrent requests, with the keys
        of every petitioner they seal made together first (`Sealer.prepare`)."""
        self.sealer.prepare(s for event in events for s in personal_subjects(event))
        self.save(*events)

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

    def register(self, command: RegisterCase, actor: Actor, trace: Trace) -> Outcome:
        """Register a submission, link it as a repeat, or refuse it — see `Outcome`."""
        case_id = self._idempotent_id(command, actor)
        if case_id is not None and case_id in self.repository:
            return self._replayed(case_id, command)
        checked = self._checked(command)
        try:
            return self._retrying(lambda: self._register(checked, actor, trace, case_id))
        except IntegrityError:
            if case_id is not None and case_id in self.repository:
                return self._replayed(case_id, command)  # a concurrent identical submission
            raise

    def _idempotent_id(self, command: RegisterCase, actor: Actor) -> UUID | None:
        """A case id fixed by the sender's reference, so a retried submission finds its case."""
        external = command.external
        if external is not None and external.system and external.reference:
            return uuid5(
                NAMESPACE_URL, f"onestop:case:external:{external.system}:{external.reference}"
            )
        if command.idempotency_key:
            return uuid5(NAMESPACE_URL, f"onestop:case:key:{actor.user}:{command.idempotency_key}")
        return None

    def _replayed(self, case_id: UUID, command: RegisterCase) -> Outcome:
        case = self.get_case(case_id)
        if case.fingerprint != command.fingerprint:
            raise IdempotencyConflict(
                "this idempotency key or external reference was already used for a different "
                f"submission (case {case_id}); use a new key for a new submission",
                field="Idempotency-Key" if command.idempotency_key else "external.reference",
            )
        return Outcome("existing", case)

    def _checked(self, command: RegisterCase) -> Checked:
        """Every rule a registration must meet, each problem with any field found before
        anything is saved; checked once, however often a conflicting save is retried."""
        territory = self.territory()
        people, problems = self._details(command)
        problems += Case.check_submission(
            territory,
            channel=command.channel,
            petitioner_count=len(command.petitioners),  # as given: a bad one is named above
            group=command.group,
            subject=command.subject,
            description=command.description,
            category=command.category,
            location=command.location,
            addressed_to=command.addressed_to,
            external=command.external,
        )
        if problems:
            raise InvalidCase.listing(problems)
        place = command.location
        return Checked(command, tuple(people), territory.locate(place.place, place.lat, place.long))

    @staticmethod
    def _details(command: RegisterCase) -> tuple[list[PersonDetails], list[Problem]]:
        """Each petitioner's details in normal form, and every problem with any of them."""
        if command.group is not None:
            fields = [f"group.representatives.{i}" for i in range(len(command.petitioners))]
        else:
            fields = ["petitioner"] * len(command.petitioners)
        people: list[PersonDetails] = []
        problems: list[Problem] = []
        for given, at in zip(command.petitioners, fields, strict=True):
            try:
                people.append(
                    PersonDetails.of(
                        given.name,
                        given.id_number,
                        given.phone,
                        given.address,
                        at=at,
                        contact_required=command.channel is Channel.VISIT,
                    )
                )
            except InvalidCase as error:
                problems += error.problems
        return people, problems

    def _register(
        self, checked: Checked, actor: Actor, trace: Trace, case_id: UUID | None
    ) -> Outcome:
        command = checked.command
        people = self._people(checked.people)
        decision = command.duplicate_decision
        if decision is not None and decision.action is DuplicateAction.LINK:
            return self._link(decision.case_id, decision.note, command, people, actor, trace)
        # only people the registry knew before can have earlier cases (a case is saved
        # together with its petitioners' entries)
        known = [
            p.petitioner_id
            for p, entry in people
            if entry is not None and not entry.is_new and p.petitioner_id
        ]
        candidates = self.index.alike(
            Likeness(
                petitioner_ids=known,
                category=command.category,
                location=checked.location,
                since=self.clock() - DUPLICATE_WINDOW,
            )
        )
        final = [
            c
            for c in candidates
            if c["status"] == Status.FINAL and "same petitioner" in c["reasons"]
        ]
        if decision is None and final and command.channel is Channel.SYSTEM:
            # a system's repeat of a final matter with no new facts: refused like a clerk's
            return self._link(UUID(str(final[0]["case_id"])), None, command, people, actor, trace)
        case_id = case_id or uuid4()
        case = Case.register(
            channel=command.channel,
            petitioners=[p for p, _ in people],
            group=command.group,
            subject=command.subject,
            description=command.description,
            category=command.category,
            location=checked.location,
            legal_class=command.legal_class,
            addressed_to=command.addressed_to,
            external=command.external,
            fingerprint=command.fingerprint,
            duplicate_review=self._review_duplicates(command, candidates, final),
            actor=actor,
            trace=trace,
            case_id=case_id,
            lookup_code_hash=code_hash(self.case_code(case_id)),
            media_url=command.media_url,
        )
        petitioners = [entry for _, entry in people if entry is not None]
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

    @staticmethod
    def _review_duplicates(
        command: RegisterCase, candidates: list[dict[str, Any]], final: list[dict[str, Any]]
    ) -> DuplicateReview | None:
        """What is recorded of the earlier cases like this one (of the same petitioner, or
        the same place and category), of which `final` are matters of the same petitioner
        final after re-review.

        A clerk decides about likely duplicates (`PossibleDuplicates`); another system's
        submission is registered with its candidates noted for a clerk to review. A repeat of
        a final matter needs new facts (Art. 36).
        """
        decision = command.duplicate_decision
        if decision is None and candidates and command.channel is not Channel.SYSTEM:
            raise PossibleDuplicates(candidates)
        new_facts = ((decision.new_facts if decision else None) or "").strip() or None
        if decision is not None and not (decision.reason or "").strip():
            raise InvalidCase(
                "say why the submission is a new matter and not one of the earlier cases",
                field="duplicate_decision.reason",
            )
        if final and not new_facts:
            raise CaseIsFinal(
                f"case {final[0]['case_id']} of this petitioner is final after re-review; the "
                "same facts are not accepted again (Art. 36) — link the submission to it, or "
                "state the new facts (duplicate_decision.new_facts)",
                field="duplicate_decision.new_facts",
            )
        if not (candidates or decision):
            return None
        return DuplicateReview(
            candidates=tuple(str(c["case_id"]) for c in candidates),
            decision=ReviewDecision.NEW if decision else ReviewDecision.UNREVIEWED,
            reason=decision.reason if decision else None,
            new_facts=new_facts,
        )

    def _link(
        self,
        case_id: UUID | None,
        note: str | None,
        command: RegisterCase,
        people: list[tuple[CasePetitioner, Petitioner | None]],
        actor: Actor,
        trace: Trace,
    ) -> Outcome:
        case = self._find(case_id, Case) if case_id is not None else None
        if case is None:
            raise InvalidCase(f"no case {case_id} to link to", field="duplicate_decision.case_id")
        petitioners = [entry for _, entry in people if entry is not None]
        case.link_repeat(
            channel=command.channel,
            petitioner_ids=[str(p.id) for p in petitioners],
            note=note,
            actor=actor,
            trace=trace,
        )
        for person in petitioners:
            person.add_case(case.id, repeat=True)
        self._save(case, *petitioners)
        return Outcome("refused" if case.final else "linked", case, petitioners)

    def _people(
        self, details: Sequence[PersonDetails]
    ) -> list[tuple[CasePetitioner, Petitioner | None]]:
        """Each petitioner found in or added to the registry, as this case records them
        (their details as the registry now knows them, and their registry id)."""
        people: list[tuple[CasePetitioner, Petitioner | None]] = []
        for given in details:
            person = self._registry_entry(given)
            if person is None:
                people.append((CasePetitioner(given), None))
            else:
                people.append((CasePetitioner(person.details, str(person.id)), person))
        return people

    def _registry_entry(self, details: PersonDetails) -> Petitioner | None:
        """Find the person by ID number (or phone, when no ID number is known); enrol them if
        new; bring their contact details up to date. Someone with neither stays anonymous."""
        if details.id_number:
            key = self.blind.uuid("id", details.id_number)
        elif details.phone:
            key = self.blind.uuid("phone", details.phone)
        else:
            return None
        try:
            person: Petitioner = self.repository.get(key)
        except AggregateNotFoundError:
            return Petitioner.enrol(key, details)
        person.update(details)
        return person

    # --- after registration -------------------------------------------------------------

    def classify(self, command: Classify, actor: Actor, trace: Trace) -> Case:
        return self._change(
            lambda: self.case_for(command.case_id, actor)[0],
            lambda case: case.classify(
                command.legal_class,
                litigation_related=command.litigation_related,
                accused=command.accused,
                barred=accused_departments(command.accused, self.territory()),
                note=command.note,
                actor=actor,
                trace=trace,
            ),
        )

    def decide_acceptance(self, command: DecideAcceptance, actor: Actor, trace: Trace) -> Case:
        return self._change(
            lambda: self.case_for(command.case_id, actor)[0],
            lambda case: case.decide_acceptance(command.decision, actor=actor, trace=trace),
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
        trace = Trace(correlation_id=event.correlation_id, causation_id=event.id)
        if isinstance(message, CaseRestricted):
            case.note_restriction(frozenset(message.barred_departments), trace)
        else:
            if isinstance(message, CaseAssigned):
                lead = {message.lead.code, *(d.code for d in message.co_handlers)}
                case.note_handlers(frozenset(lead), trace)
            stage, summary = progress_of(message)
            case.note_progress(stage, summary, source_event=event.id, trace=trace)
        self.save_tracked(tracking, case)
        self.index.wake()

    # --- reading --------------------------------------------------------------------------

    def get_case(self, case_id: UUID) -> Case:
        case = self._find(case_id, Case)
        if case is None:
            raise self.case_not_found(case_id)
        return case

    def case_not_found(self, case_id: UUID) -> NotFound:
        return NotFound(f"case {case_id}")

    def case_access(self, case_id: UUID) -> CaseAccess:
        try:  # read in place: every request about a case asks this first
            return self.peek(case_id, Case, lambda case: case.access)
        except AggregateNotFoundError:
            raise self.case_not_found(case_id) from None

    def case_for(self, case_id: UUID, actor: Actor) -> tuple[Case, Sight]:
        """The case and how much of it `actor` sees; a case hidden from them is not found,
        in the same words as one that does not exist (Art. 30: a refusal tells nothing)."""
        case = self.get_case(case_id)
        seen = sight(actor, case.access)
        if seen is Sight.HIDDEN:
            raise self.case_not_found(case_id)
        return case, seen

    def cases(self, query: Query, actor: Actor) -> tuple[list[tuple[Case, Sight]], int]:
        """A listing of what `actor` may see (counted and paged after leaving out the rest)."""
        query = replace(
            query,
            hidden_from=actor.department,
            external_system=actor.user if actor.role == "integration" else query.external_system,
        )
        rows, total = self.index.search(query)
        found = [self.get_case(r["case_id"]) for r in rows]
        return [(c, sight(actor, c.access)) for c in found], total

    def note_reads(
        self,
        actor: Actor,
        operation: str,
        shown: list[tuple[str | None, list[str]]],
        correlation_id: str | None,
    ) -> None:
        """Record that `actor` is being shown these cases' (or people's) personal data
        unmasked — before the answer is sent (see `services.intake.reads`)."""
        at = self.clock()
        self.reads.record(
            [
                PersonalDataRead.of(actor, at, operation, case_id, people, correlation_id)
                for case_id, people in shown
                if people
            ]
        )

    def public_cases(self, query: Query) -> list[Case]:
        """What anyone may read (Open311's listings: filed through it, no accusation)."""
        rows, _ = self.index.search(replace(query, open311_public=True))
        return [self.get_case(r["case_id"]) for r in rows]

    def petitioner_for(
        self, petitioner_id: UUID, actor: Actor
    ) -> tuple[Petitioner, Sight, list[str]]:
        """A petitioner as `actor` may see them: as much as of the most they see of the
        person's cases, with only those cases listed; not found if they see none of them."""
        person = self.petitioner(petitioner_id)
        visible = []
        most = Sight.HIDDEN
        for case_id in person.case_ids:
            case = self._find(UUID(case_id), Case)
            seen = sight(actor, case.access) if case is not None else Sight.MASKED
            if seen is not Sight.HIDDEN:
                visible.append(case_id)
                most = max(most, seen)
        if person.case_ids and not visible:
            raise NotFound(f"petitioner {petitioner_id}")
        return person, most if visible else Sight.MASKED, visible

    def petitioner(self, petitioner_id: UUID) -> Petitioner:
        person = self._find(petitioner_id, Petitioner)
        if person is None:
            raise NotFound(f"petitioner {petitioner_id}")
        return person

    def find_petitioner_id(self, *, id_number: str | None, phone: str | None) -> UUID:
        """The registry id a person would have: found again by a keyed hash, never stored."""
        if id_number:
            key = self.blind.uuid("id", check_id_number(id_number, "id_number"))
        elif phone:
            key = self.blind.uuid("phone", normalise_phone(phone, "phone"))
        else:
            raise InvalidCase("give an id_number or a phone to look a petitioner up", "id_number")
        return key

    def _find(self, aggregate_id: UUID, kind: type[T]) -> T | None:
        aggregate = self.load(aggregate_id)
        return aggregate if isinstance(aggregate, kind) else None

    # --- erasure: personal data whose time is over -----------------------------------------

    def erase_petitioner(self, command: ErasePetitioner, actor: Actor, trace: Trace) -> Petitioner:
        """Erase a petitioner everywhere: their events written again sealed (those an
        earlier release stored unsealed), the erasure recorded on them and each of their
        cases (and so in every case's history), then their keys destroyed. Run again after
        a failure, it finishes what is left."""
        person = self.petitioner(command.petitioner_id)
        cases = [c for c in (self._find(UUID(i), Case) for i in person.case_ids) if c]
        if command.basis is ErasureBasis.RETENTION and self.retention is not None:
            self._check_retention_over(cases)
        if person.erased_at is None:
            redact = redactor(person.details)
            texts = {c.id: c.redacted_texts(redact) for c in cases}
            rewrite_sealed(self, [person.id, *(c.id for c in cases)], redact)
            self._evict(person.id, *(c.id for c in cases))

            def erase() -> Petitioner:
                again = self.petitioner(command.petitioner_id)
                again.erase(command.basis, command.reference, actor=actor, trace=trace)
                touched = [self.get_case(c.id) for c in cases]
                for case in touched:
                    case.note_erasure(
                        str(again.id), command.basis, (command.reference or "").strip() or None,
                        redacted=texts[case.id], actor=actor, trace=trace,
                    )  # fmt: skip
                self._save(again, *touched)
                return again

            person = self._retrying(erase)
        self._destroy(str(person.id), *(c.id for c in cases))
        return person

    def _check_retention_over(self, cases: list[Case]) -> None:
        """Retention erases someone only once every case of theirs ended long enough ago."""
        assert self.retention is not None
        cutoff = self.clock() - self.retention
        for case in cases:
            if not case.ended or (case.updated_at and case.updated_at > cutoff):
                raise DomainError(
                    f"case {case.id} ended less than {self.retention.days} days ago or is "
                    "still open: the retention period is not over",
                    field="basis",
                )

    def _destroy(self, subject: str, *aggregate_ids: UUID) -> None:
        self.person_keys.destroy(subject, self.clock())
        self.sealer.forget(subject)
        self._evict(*aggregate_ids)

    def _evict(self, *aggregate_ids: UUID) -> None:
        """Out of this process's cache: read again from the store."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in aggregate_ids:
                with suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    def erase_expired(self) -> int:
        """Erase everyone whose retention period is over: each petitioner all of whose cases
        ended more than `retention` ago, and the unregistered petitioners of such a case.
        Returns how many were erased."""
        if self.retention is None:
            return 0
        cutoff = self.clock() - self.retention
        erased = offset = 0
        # Only the candidates, from the index (ended, unchanged since the cutoff, someone's
        # data still in them), never every ended case: a store of a million would be read
        # whole every hour. A case erased leaves the candidates, so the next page starts
        # that much earlier; one skipped by a petitioner erased meanwhile is found next time.
        while True:
            rows, _ = self.index.search(Query(retention_due=cutoff, limit=200, offset=offset))
            if not rows:
                return erased
            offset += len(rows)
            for row in rows:
                case = self._find(UUID(str(row["case_id"])), Case)
                if case is None or not case.ended or (case.updated_at or cutoff) > cutoff:
                    continue
                pending = [
                    (subject, petitioner.petitioner_id)
                    for subject, petitioner in zip(case.subjects, case.petitioners, strict=True)
                    if subject not in case.erased_subjects
                ]
                done = sum(self._erase_on_retention(case, s, p) for s, p in pending)
                erased += done
                if pending and done == len(pending):
                    offset -= 1  # it holds no one's data now: no longer a candidate

    def _erase_on_retention(self, case: Case, subject: str, petitioner_id: str | None) -> int:
        trace = Trace(correlation_id=f"retention:{subject}")
        if petitioner_id is None:  # not in the registry: theirs is this case alone
            person = case.petitioners[case.subjects.index(subject)].details
            redact = redactor(person)
            texts = case.redacted_texts(redact)
            rewrite_sealed(self, [case.id], redact)
            self._evict(case.id)
            self._change(
                lambda: self.get_case(case.id),
                lambda c: c.note_erasure(
                    subject,
                    ErasureBasis.RETENTION,
                    None,
                    redacted=texts,
                    actor=INTAKE,
                    trace=trace,
                ),
            )
            self._destroy(subject, case.id)
            return 1
        try:
            self.erase_petitioner(
                ErasePetitioner(UUID(petitioner_id), ErasureBasis.RETENTION), INTAKE, trace
            )
        except DomainError:  # another case of theirs is still open or too recent
            return 0
        return 1

    def retention_sweep(self, stop: threading.Event, every: float) -> None:
        while True:
            try:
                self.erase_expired()
            except Exception:
                logging.getLogger("onestop.intake").exception("the retention sweep failed")
            if stop.wait(every):
                return

    # --- API keys for Open311 -------------------------------------------------------------

    def issue_api_key(self, command: IssueApiKey, issued_by: str) -> str:
        """Returns the new key; only its hash is stored, so it is shown this once."""
        secret = "os_" + secrets.token_urlsafe(32)
        self._change(
            self._keys, lambda keys: keys.issue(command.name, api_key_hash(secret), issued_by)
        )
        return secret

    def revoke_api_key(self, command: RevokeApiKey, revoked_by: str) -> None:
        self._change(self._keys, lambda keys: keys.revoke(command.name, revoked_by))

    def _keys(self) -> ApiKeys:
        return self._find(API_KEYS_ID, ApiKeys) or ApiKeys.start(API_KEYS_ID)

    def api_keys(self) -> dict[str, ApiKey]:
        keys = self._find(API_KEYS_ID, ApiKeys)
        return dict(keys.keys) if keys else {}

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

    def issue_ticket(self, command: IssueTicket, actor: Actor) -> Ticket:
        return self._queue_command(lambda day, layout: day.issue(command.line, layout, actor))

    def call_next(self, command: CallNext, actor: Actor) -> Ticket | None:
        return self._queue_command(lambda day, layout: day.call_next(command.window, layout, actor))

    def transfer_ticket(self, command: TransferTicket, actor: Actor) -> Ticket:
        return self._queue_command(
            lambda day, layout: day.transfer(
                command.number, command.to_window, command.reason, layout, actor
            )
        )

    def finish_ticket(self, command: FinishTicket) -> Ticket:
        case_id = str(command.case_id) if command.case_id else None
        return self._queue_command(
            lambda day, _: day.finish(command.number, command.outcome, case_id)
        )

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
        stored = replayed(None, self.events.get(day_id(day)))
        return cast(QueueDay, stored) if stored is not None else QueueDay.open(day)

    def _catch_up(self, queue: QueueDay) -> QueueDay:
        """The day with what another process saved of it since."""
        return replayed(queue, self.events.get(queue.id, gt=queue.version)) or queue
