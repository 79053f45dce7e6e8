"""Applications that consume other services' events and must apply each exactly once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from math import inf
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.popo import POPOProcessRecorder

from shared.domain import DomainError, replayed
from shared.envelope import CloudEvent
from shared.repository import GuardedRepository
from shared.territory import VALUE_OBJECTS
from shared.values import FastJSONTranscoder, TypedMapper, register_values

A = TypeVar("A")
T = TypeVar("T")


class NotACase(DomainError):
    """An id given as a case's names something else the service keeps (a record's subject
    forged or mistaken, a guessed URL): refused, and a record dead-lettered, with this."""

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"{case_id} is not a case", field="case_id")


@dataclass
class Batch:
    """Several consumed records' effects, saved in one transaction with the last position.

    The aggregates the batch loads are its own until it ends (see `TrackedApplication.load`);
    an aggregate changed by an earlier record is handed to later records as it is in memory.
    Events are stored as they were raised, in the order the records raised them.
    """

    aggregates: dict[UUID, Any] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    references: dict[UUID, Any] = field(default_factory=dict)
    """Reference data the batch only reads (see `TrackedApplication.reference`); None for
    one there is none of."""
    absent: set[UUID] = field(default_factory=set)
    """Aggregates `prefetch` found not to exist (yet: a record of the batch may start one)."""
    references_read: bool = False
    """Whether the reference data read before was brought up to date for this batch
    (`TrackedApplication.reference`)."""


class MemoryProcessRecorder(POPOProcessRecorder):
    """eventsourcing's in-memory process recorder, also taking the positions of several
    partitions (`trackings`) in one insert, as `shared.store.ProcessRecorder` does."""

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for tracking in kwargs.get("trackings", ()):
            self._assert_tracking_uniqueness(tracking)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        for tracking in kwargs.get("trackings", ()):
            self._insert_tracking(tracking)
        return ids

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        """Also with no events: the positions alone (as PostgreSQL's recorder does)."""
        return self._insert_events(stored_events, **kwargs)

    def select_events_after(self, after: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """Each aggregate's events after the version given for it (0: all of them), as
        `shared.store.ProcessRecorder` reads them in one query."""
        return {i: list(self.select_events(i, gt=version)) for i, version in after.items()}


class TrackedApplication(Application[UUID]):
    """Stores the effects of a consumed record together with its tracking record."""

    recorder: ProcessRecorder
    repository: GuardedRepository
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "5000"}
    """Every service keeps recently used aggregates (see `remember`), in tests too, so that
    tests run the same paths as the services."""
    value_objects: ClassVar[tuple[type, ...]] = ()
    """The service's own value objects that its events carry, stored like the territory's."""
    NOT_CASES: ClassVar[frozenset[UUID]] = frozenset()
    """The ids of what the service keeps one of (its calendar, its replica of the registry):
    never a case's, whether or not it exists yet (`load_case`)."""

    REFERENCE_FRESH_SECONDS = 0.5
    """How long reference data read from the cache counts as current without asking the
    store for newer events. It changes a few times a year, and this process applies the
    changes it hears itself; another process's change is seen within this long. Asking on
    every read was a tenth of intake's time per registration."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._local = threading.local()
        self._reference_checked_at: dict[UUID, float] = {}
        self._reference_ids: set[UUID] = set()
        """What this process has read as reference data (a few ids: see `reference`)."""
        self.monotonic: Callable[[], float] = time.monotonic
        """What measures the freshness interval (a test moves it on)."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """Stored events carry the domain's value objects (places, departments…) as such."""
        super().register_transcodings(transcoder)
        register_values(transcoder, *VALUE_OBJECTS, *self.value_objects)

    def construct_transcoder(self) -> FastJSONTranscoder:
        """eventsourcing's JSON transcoder, reading with orjson (`FastJSONTranscoder`)."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        """Events are read back with the types their classes declare (see `TypedMapper`)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TypedMapper)

    def construct_repository(self) -> GuardedRepository:
        """eventsourcing's repository, made safe for batches that take from its cache."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return GuardedRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
        )

    def construct_recorder(self) -> ProcessRecorder:
        recorder = self.factory.process_recorder()
        if type(recorder) is POPOProcessRecorder:  # in memory (unit tests): the same API
            recorder.__class__ = MemoryProcessRecorder
        return recorder

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """eventsourcing's save; reference data saved here is read fresh from the store next
        (not from a cache that may hold the version before)."""
        recordings = super().save(*objs, **kwargs)
        for obj in objs:
            if (ident := getattr(obj, "id", None)) is not None:
                self._reference_checked_at.pop(ident, None)
        return recordings

    def save_tracked(self, tracking: Tracking, *aggregates: Any) -> None:
        """One transaction: the aggregates' new events and the Kafka position they came from.

        Raises IntegrityError if the position was already recorded (a redelivery). Inside
        `batched`, the effects wait for `save_batch` instead.
        """
        events = [e for a in aggregates for e in a.collect_events()]
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            batch.aggregates.update((a.id, a) for a in aggregates)
            # encoded now: a later record of the batch may change state an event shares with
            # its aggregate (a dict it applied), and the event is stored as it was raised
            batch.events.extend(map(self.mapper.to_stored_event, events))
            return
        if events:
            self.events.put(events, tracking=tracking)
            self.remember(*aggregates, copy=False)  # the consumer lets go of them now
        else:
            self.recorder.insert_tracking(tracking)

    @contextmanager
    def batched(self) -> Iterator[Batch]:
        """Collect this thread's `save_tracked` calls into one batch (see `save_batch`)."""
        batch = Batch()
        self._local.batch = batch
        try:
            yield batch
        finally:
            self._local.batch = None

    def save_batch(self, batch: Batch, trackings: Sequence[Tracking]) -> None:
        """Save a batch's events with `trackings`, the position its records reached in each
        partition they came from, atomically.

        Raises IntegrityError if any of it conflicts (a redelivery, a concurrent writer):
        then nothing was saved and the records can be applied again one by one.
        """
        self.recorder.insert_events(batch.events, trackings=trackings)
        # Back into the cache: what the batch loaded, saved now. One still holding events it
        # did not save (a handler changed it and then did not save it) stays out.
        self.remember(*(a for a in batch.aggregates.values() if not a.pending_events), copy=False)

    def load(self, aggregate_id: UUID) -> Any | None:
        """The aggregate, or None if there is none, for a command or record to change.

        A command gets a copy. A batch of records takes the aggregate out of the cache
        instead: copying is most of a consumer's work, and out of the cache no other thread
        reads or fast-forwards the object while the batch changes it. `save_batch` puts it
        back; a batch that fails leaves it out, so nothing it half-did is ever read.
        """
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            try:
                return self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        if aggregate_id not in batch.aggregates:
            if aggregate_id in batch.absent:
                return None
            aggregate = self._take(aggregate_id)
            if aggregate is None:
                return None
            batch.aggregates[aggregate_id] = aggregate
        return batch.aggregates[aggregate_id]

    def load_case(self, case_id: UUID, kind: type[A]) -> A | None:
        """`load` for an id given as a case's (a record's subject, a command's case): None
        if there is nothing by that id; refused (`NotACase`) if it names something else this
        service keeps — a case's history, the registry, the calendar — whose ids anyone can
        work out, or one of `NOT_CASES` even before it exists (a forged record must not make
        a case under the calendar's id: the calendar could never be made after)."""
        if case_id in self.NOT_CASES:
            raise NotACase(case_id)
        aggregate = self.load(case_id)
        if aggregate is None or isinstance(aggregate, kind):
            return aggregate
        raise NotACase(case_id)

    def peek(self, aggregate_id: UUID, kind: type[A], reader: Callable[[A], T]) -> T:
        """What `reader` makes of the aggregate as it stands, read in place, not copied: a
        quick look that changes nothing (who may see a case, its status). `reader` must not
        keep what it reads: a batch may change that object next. Raises
        AggregateNotFoundError if there is no aggregate of `kind` by that id."""

        def read(aggregate: Any) -> T:
            if not isinstance(aggregate, kind):
                raise AggregateNotFoundError(aggregate_id)
            return reader(aggregate)

        return self.repository.read(aggregate_id, read)

    def reference(self, aggregate_id: UUID, *, to_change: bool = False) -> Any:
        """Reference data that records read (a registry, a catalogue, a calendar): the
        cached object itself, brought up to date once per batch.

        Never change what this returns; a command, or the rare record that changes it, asks
        for a copy (`to_change`) — within a batch, the copy an earlier record of the batch
        changed, if one did. Nothing changes it in place either: when another process saved
        newer events, they are applied to a copy that then replaces it in the cache, so a
        reader still holding the old object reads a consistent, if older, state. Raises
        AggregateNotFoundError if there is none.
        """
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is not None and not batch.references_read:
            self._references_for(batch)
        self._reference_ids.add(aggregate_id)
        if to_change:
            if batch is not None and aggregate_id in batch.aggregates:
                return batch.aggregates[aggregate_id]
            if batch is not None and batch.references.get(aggregate_id) is not None:
                return deepcopy(batch.references[aggregate_id])
            return deepcopy(self._current(aggregate_id, fresh=True))
        if batch is not None and aggregate_id in batch.references:
            known = batch.references[aggregate_id]
            if known is None:
                raise AggregateNotFoundError(aggregate_id)
            return known
        try:
            aggregate = self._current(aggregate_id, fresh=batch is not None)
        except AggregateNotFoundError:
            if batch is not None:  # asked for once per batch, like one that exists
                batch.references[aggregate_id] = None
            raise
        if batch is not None:
            batch.references[aggregate_id] = aggregate
        return aggregate

    def _references_for(self, batch: Batch) -> None:
        """At a batch's first read of reference data, everything this process has read as
        reference data before — there or not (yet) — brought up to date in one query, not
        one query each as the batch reads them (routing reads three or four for every case:
        a batch of one case asked as many times)."""
        batch.references_read = True
        select = getattr(self.recorder, "select_events_after", None)
        cache = self.repository.cache
        if select is None or cache is None or not self._reference_ids:
            return
        ids = list(self._reference_ids)
        known: dict[UUID, Any] = {}
        for aggregate_id in ids:
            with contextlib.suppress(KeyError):
                known[aggregate_id] = cache.get(aggregate_id)
        stored = select({i: known[i].version if i in known else 0 for i in ids})
        now = self.monotonic()
        for aggregate_id in ids:
            newer = [self.mapper.to_domain_event(s) for s in stored.get(aggregate_id, ())]
            current = known.get(aggregate_id)
            if newer:
                current = replayed(deepcopy(current), newer)
                cache.put(aggregate_id, current)
            if current is not None:
                self._reference_checked_at[aggregate_id] = now
            batch.references[aggregate_id] = current

    def _current(self, aggregate_id: UUID, *, fresh: bool) -> Any:
        """The cached aggregate, brought up to date with the store — unless it was checked
        less than `REFERENCE_FRESH_SECONDS` ago and `fresh` is not asked for (a change to
        it, or a batch of records, which reads it once)."""
        cache = self.repository.cache
        if cache is None:
            return self.repository.get(aggregate_id)
        try:
            cached = cache.get(aggregate_id)
        except KeyError:
            return self.repository.get(aggregate_id, deepcopy_from_cache=False)
        now = self.monotonic()
        if (
            not fresh
            and now - self._reference_checked_at.get(aggregate_id, -inf)
            < self.REFERENCE_FRESH_SECONDS
        ):
            return cached
        newer = list(self.events.get(aggregate_id, gt=cached.version))
        self._reference_checked_at[aggregate_id] = now
        if not newer:
            return cached
        current = replayed(deepcopy(cached), newer)
        cache.put(aggregate_id, current)
        return current

    def aggregates_of(self, event: CloudEvent) -> list[UUID]:
        """The aggregates a consumed event will load: by default the one its subject names
        (a case's); a service whose events touch more says so (`prefetch`)."""
        try:
            return [UUID(event.subject)]
        except ValueError:
            return []

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Within a batch, load the aggregates its records will change at once: those in the
        cache brought up to date and the others read, in one query rather than one per
        aggregate per record (that was two fifths of follow-up's time). What is not there is
        remembered as absent, so a record starting it asks nothing either."""
        batch: Batch | None = getattr(self._local, "batch", None)
        select = getattr(self.recorder, "select_events_after", None)
        if batch is None or select is None:
            return
        wanted = [
            i
            for i in dict.fromkeys(aggregate_ids)
            if i not in batch.aggregates and i not in batch.absent
        ]
        if not wanted:
            return
        cached: dict[UUID, Any] = {}
        for i in wanted:
            if (taken := self.repository.take(i)) is not None:
                cached[i] = taken
        stored = select({i: cached[i].version if i in cached else 0 for i in wanted})
        for i in wanted:
            events = [self.mapper.to_domain_event(s) for s in stored.get(i, ())]
            aggregate = replayed(cached.get(i), events)
            if aggregate is None:
                batch.absent.add(i)
            else:
                batch.aggregates[i] = aggregate

    def _take(self, aggregate_id: UUID) -> Any | None:
        """The aggregate, out of the cache and brought up to date with the event store."""
        cached = self.repository.take(aggregate_id)
        since = cached.version if cached is not None else None
        return replayed(cached, self.events.get(aggregate_id, gt=since))

    def _save(self, *aggregates: Any) -> None:
        """How a command's changes are saved (intake saves through its group committer)."""
        self.save(*aggregates)
        self.remember(*aggregates)

    def _change(self, load: Callable[[], A], change: Callable[[A], object]) -> A:
        """Load an aggregate, change it, save it — again on fresh state if a concurrent save
        moved it on first."""

        def command() -> A:
            aggregate = load()
            change(aggregate)
            self._save(aggregate)
            return aggregate

        return self._retrying(command)

    def _retrying(self, command: Callable[[], T], attempts: int = 8) -> T:
        """Run a load-change-save command again if a concurrent save moved an aggregate on."""
        for _ in range(attempts - 1):
            try:
                return command()
            except IntegrityError:
                continue
        return command()

    def remember(self, *aggregates: Any, copy: bool = True) -> None:
        """Keep just-saved aggregates in the repository's cache, so the next read of each
        (the projector's, the next command's) needs no decryption and no replay: the
        cache's fast-forward still reads whatever another process saved since.

        A command's aggregates are copied: its caller still reads them (to answer the
        request) and a fast-forward changes the cached object in place. A consumer lets go
        of its aggregates once saved, so they are kept as they are (`copy=False`): reads
        from the repository get their own copy anyway.
        """
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, deepcopy(aggregate) if copy else aggregate)
