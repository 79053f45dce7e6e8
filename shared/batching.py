"""Group commit: many requests' events saved in one transaction.

An application's save takes a table lock so that notification order equals commit order,
which caps one application at roughly a thousand saves a second whatever the number of
threads. Saving what several concurrent requests produced together lifts that cap; each
caller still waits until its own events are durable (`GroupCommitter`).

Requests that all change ONE aggregate (the day's queue at the centre) would still race for
its version, however their saves are grouped: `SingleWriter` applies them one after another
to one copy in memory and saves each group's events together.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar, cast

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from shared.domain import DomainError

_Item = tuple[Sequence[Any], "Future[None]"]
A = TypeVar("A", bound=Aggregate)
C = TypeVar("C")
V = TypeVar("V")
T = TypeVar("T")


class GroupCommitter:
    def __init__(
        self,
        save: Callable[..., Any],
        max_batch: int = 256,
        after_save: Callable[[], None] = lambda: None,
    ) -> None:
        self._save = save
        self._after_save = after_save
        self._max_batch = max_batch
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def save(self, *aggregates: Any, timeout: float = 30.0) -> None:
        """Durably save the aggregates' pending events; raises what the save raised."""
        events = [e for a in aggregates for e in a.collect_events()]
        done: Future[None] = Future()
        self._queue.put((events, done))
        done.result(timeout)

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                batch = [self._queue.get(timeout=0.1)]
            except queue.Empty:
                continue
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._flush(batch)
            self._after_save()

    def _flush(self, batch: list[_Item]) -> None:
        try:
            self._save(*[e for events, _ in batch for e in events])
        except Exception as error:
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            for item in batch:  # one bad request must not fail the others: isolate it
                self._flush([item])
            return
        for _, done in batch:
            done.set_result(None)


def _stored_version(aggregate: Aggregate) -> int:
    return aggregate.version - len(aggregate.pending_events)


class _Command(Generic[A, C]):
    """One caller's change, and what became of it once the writer applied it."""

    __slots__ = ("change", "done", "error", "value")

    def __init__(self, change: Callable[[A, C], Any]) -> None:
        self.change = change
        self.done = False
        self.value: Any = None
        self.error: Exception | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class SingleWriter(Generic[A, C, V]):
    """One aggregate that many threads change: changed by one thread at a time, and what
    the commands of a group did saved in one go.

    A caller's command is queued. If no caller is writing, this one becomes the writer: it
    applies every queued command, in order, saves all their events with one `save`, and
    hands over (flat combining: no thread of its own; the callers that queued meanwhile make
    the next group, and each is woken as soon as its own command is done). Inside the
    process no two saves of the aggregate race, so nothing is retried.

    The saved state stays in memory, never half-changed: a group is applied to `fork(saved)`,
    which becomes the saved state once its save succeeded. So a command refused with one of
    `refusals` before it raised an event leaves the group's copy as it was and the others go
    on; any other failure, or a refusal after an event, costs only that copy, and the rest
    of the group is applied again to a fresh fork. `context()` is called once per group and
    its answer handed to each command (reference data the commands read).

    Readers get `view(saved)`, made under the lock and cached until the state changes, after
    `refresh(saved)` has applied what other processes stored since; they never see an
    aggregate. When another process did save first, the group's save raises IntegrityError:
    the saved state catches up the same way and the group is applied again (for up to
    `patience` seconds) before any caller is answered. A group that raised no event has no
    save to conflict, so it catches up before its answers go out, and is applied again if
    another process had moved on.
    """

    def __init__(
        self,
        load: Callable[[], A],
        save: Callable[[A], None],
        *,
        fork: Callable[[A], A],
        refresh: Callable[[A], A],
        context: Callable[[], C],
        view: Callable[[A], V],
        refusals: tuple[type[Exception], ...] = (DomainError,),
        max_batch: int = 128,
        patience: float = 10.0,
    ) -> None:
        self._load, self._save, self._fork, self._refresh = load, save, fork, refresh
        self._context, self._view, self._refusals = context, view, refusals
        self._max_batch, self._patience = max_batch, patience
        self._lock = threading.Lock()
        """Held by whoever reads or changes the saved state."""
        self._turn = threading.Condition()
        """Guards the queue and who writes; callers wait on it for their command."""
        self._queued: list[_Command[A, C]] = []
        self._writing = False
        self._saved: A | None = None
        """The state as stored (a new aggregate's creation still pending), or None when it
        is to be loaded again."""
        self._seen: tuple[int, V] | None = None
        self.conflicts = 0
        """Saves another process got in first (never this process's own)."""

    def run(self, change: Callable[[A, C], T]) -> T:
        """Apply `change(aggregate, context)` and save what it did; returns what it
        returned, or raises what it raised (or what the save raised)."""
        command: _Command[A, C] = _Command(change)
        with self._turn:
            self._queued.append(command)
            while self._writing and not command.done:
                self._turn.wait()
            if command.done:  # another caller's group took it
                return cast(T, command.outcome())
            self._writing = True
        try:
            while not command.done:  # queued behind at most a few groups
                with self._turn:
                    group = self._queued[: self._max_batch]
                    del self._queued[: len(group)]
                self._apply(group)
                with self._turn:
                    self._turn.notify_all()
        finally:
            with self._turn:
                self._writing = False
                self._turn.notify_all()
        return cast(T, command.outcome())

    def read(self) -> V:
        """The state as stored now, as a view no later change affects."""
        with self._lock:
            saved = self._saved = self._caught_up(self._saved)
            if self._seen is None or self._seen[0] != saved.version:
                self._seen = (saved.version, self._view(saved))
            return self._seen[1]

    @property
    def queued(self) -> int:
        """Commands waiting for the writer now."""
        return len(self._queued)

    def _caught_up(self, saved: A | None) -> A:
        if saved is None or saved.pending_events:  # not stored yet: maybe another process has
            return self._load()
        return self._refresh(saved)

    def _apply(self, group: list[_Command[A, C]]) -> None:
        with self._lock:
            try:
                self._apply_group(group)
            except Exception as error:  # the store failed: none of the group is known saved
                self._saved = None
                self._fail([c for c in group if not c.done], error)

    def _apply_group(self, group: list[_Command[A, C]]) -> None:
        saved = self._saved if self._saved is not None else self._load()
        self._saved = saved
        context = self._context()
        give_up = time.monotonic() + self._patience
        while group:
            work = self._fork(saved)
            broken = self._run_all(group, work, context)
            if broken is not None:
                broken.done = True
                group.remove(broken)
                continue
            if not work.pending_events:
                # Nothing to save, so no save tells us whether another process moved on: an
                # answer read from stale state ("nobody waiting", "no such ticket") would be
                # wrong. Catch up, and apply the group again if anything newer was stored.
                stored = _stored_version(saved)
                saved = self._saved = self._caught_up(saved)
                if _stored_version(saved) > stored:
                    continue
            else:
                try:
                    self._save(work)
                except IntegrityError:
                    # Another process saved first. It made progress, so trying again on its
                    # state is no livelock; a conflict with nothing newer stored is no race.
                    self.conflicts += 1
                    stored = _stored_version(saved)
                    saved = self._saved = self._caught_up(saved)
                    if _stored_version(saved) <= stored or time.monotonic() > give_up:
                        raise
                    continue
            self._saved = work
            for command in group:
                command.done = True
            return

    def _run_all(self, group: list[_Command[A, C]], work: A, context: C) -> _Command[A, C] | None:
        """Apply each command in turn; the first that left `work` in doubt, if any."""
        for command in group:
            before = len(work.pending_events)
            try:
                command.value, command.error = command.change(work, context), None
            except Exception as error:
                command.value, command.error = None, error
                if not isinstance(error, self._refusals) or len(work.pending_events) != before:
                    return command
        return None

    @staticmethod
    def _fail(group: list[_Command[A, C]], error: Exception) -> None:
        for command in group:
            command.value, command.error, command.done = None, error, True
