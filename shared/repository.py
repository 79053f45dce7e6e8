"""The event store's repository, safe for a cache that a consumer's batch takes from."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from threading import Lock
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    ProjectorFunction,
    Repository,
)

from shared.domain import replayed

T = TypeVar("T")


class GuardedRepository(Repository[UUID]):
    """eventsourcing's repository, except that reading never changes a cached aggregate.

    eventsourcing fast-forwards the cached object itself, in place, and then copies it. A
    consumer's batch takes aggregates out of the cache and changes them (copying them was
    most of its work): a request that got the object just before the batch took it then
    fast-forwarded it while the batch applied the same events, and one of the two failed with
    `OriginatorVersionError` (a 500 on follow-up, seen under `make bench-large`). Here a
    read copies the cached object under a lock that taking it out also holds, then brings
    the copy up to date; a newer state read from the store goes back into the cache as a
    copy of its own.
    """

    STRIPES = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripes = tuple(Lock() for _ in range(self.STRIPES))

    def _guard(self, aggregate_id: UUID) -> Lock:
        # some callers pass the id as a string: the same aggregate, the same lock
        return self._stripes[hash(str(aggregate_id)) % self.STRIPES]

    def take(self, aggregate_id: UUID) -> Any | None:
        """The cached aggregate, out of the cache and now the caller's to change; None if
        it is not cached."""
        if self.cache is None:
            return None
        with self._guard(aggregate_id):
            try:
                return self.cache.get(aggregate_id, evict=True)
            except KeyError:
                return None

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = replayed,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        guard = self._guard(aggregate_id)
        with guard:
            try:
                cached = self.cache.get(aggregate_id)
            except KeyError:
                cached = None
            copy = deepcopy(cached)
        if copy is None:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
            self._keep(aggregate_id, aggregate, instead_of=None)
            keep_apart = deepcopy_from_cache and self.deepcopy_from_cache
            return deepcopy(aggregate) if keep_apart else aggregate
        newer = list(self.event_store.get(originator_id=aggregate_id, gt=copy.version))
        if not newer:
            return copy
        aggregate = projector_func(copy, newer)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        self._keep(aggregate_id, deepcopy(aggregate), instead_of=cached)
        return aggregate

    def read(self, aggregate_id: UUID, reader: Callable[[Any], T]) -> T:
        """What `reader` makes of the aggregate as it stands now, without copying it: the
        cached object itself, under the lock a batch takes it out with, when nothing newer
        is stored (a quick look that changes nothing: a case's status for its history);
        otherwise a copy read as `get` reads one."""
        if self.cache is not None:
            with self._guard(aggregate_id):
                try:
                    cached = self.cache.get(aggregate_id)
                except KeyError:
                    cached = None
                if cached is not None and not any(
                    True
                    for _ in self.event_store.get(originator_id=aggregate_id, gt=cached.version)
                ):
                    return reader(cached)
        return reader(self.get(aggregate_id))

    def _keep(self, aggregate_id: UUID, aggregate: Any, *, instead_of: Any | None) -> None:
        """Cache `aggregate` unless the cache moved on meanwhile (a batch took the one read,
        or put back a newer one)."""
        assert self.cache is not None
        with self._guard(aggregate_id):
            try:
                current = self.cache.get(aggregate_id)
            except KeyError:
                current = None
            if current is instead_of:
                self.cache.put(aggregate_id, aggregate)
