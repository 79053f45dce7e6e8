"""Applications that consume other services' events and must apply each exactly once."""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ProcessRecorder, Tracking


class TrackedApplication(Application[UUID]):
    """Stores the effects of a consumed record together with its tracking record."""

    recorder: ProcessRecorder

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        return self.factory.process_recorder()

    def save_tracked(self, tracking: Tracking, *aggregates: Any) -> None:
        """One transaction: the aggregates' new events and the Kafka position they came from.

        Raises IntegrityError if the position was already recorded (a redelivery).
        """
        events = [e for a in aggregates for e in a.collect_events()]
        if events:
            self.events.put(events, tracking=tracking)
            self.remember(*aggregates)
        else:
            self.recorder.insert_tracking(tracking)

    def remember(self, *aggregates: Any) -> None:
        """Keep just-saved aggregates in the repository's cache, so the next read of each
        (the projector's, the next command's) needs no decryption and no replay: the
        cache's fast-forward still reads whatever another process saved since. A copy is
        kept: a fast-forward must never change an object its caller is still reading."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, deepcopy(aggregate))
