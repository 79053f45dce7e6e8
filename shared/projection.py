"""In-memory read models that follow an application's notification log.

Each is rebuilt from the log when its process starts and brought up to date before it is
read, so it never disagrees with the event store for long and can always be thrown away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic


def cached(app: Any, aggregate_id: UUID) -> Any | None:
    """The repository's cached aggregate itself (shared: read it, never change it), if any."""
    cache = app.repository.cache
    try:
        return cache.get(aggregate_id) if cache is not None else None
    except KeyError:
        return None


def current(app: Any, aggregate_id: UUID, version: int) -> Any:
    """The aggregate at `version` or later, for reading only: the repository's cached copy
    when it is that far on (the command or consumer that saved it put it there), else from
    the event store."""
    found = cached(app, aggregate_id)
    if found is not None and found.version >= version:
        return found
    return app.repository.get(aggregate_id)


class LogFollower:
    """Calls `project(aggregate_id, version)` for every aggregate of class `kind` that
    changed since the last catch-up, with the version it reached, in the order of their
    latest change.

    A stored event is recognised by the class its topic resolves to, not by the topic's
    text, so events stored under a topic that has since moved are followed too.
    """

    BATCH = 500

    def __init__(
        self, app: Any, kind: type[Aggregate], project: Callable[[UUID, int], None]
    ) -> None:
        self.app = app
        self.events = kind.Event
        self.project = project
        self.lock = threading.RLock()
        self.position = 0

    def catch_up(self) -> int:
        with self.lock:
            while True:
                notifications = self.app.recorder.select_notifications(
                    start=self.position, limit=self.BATCH, inclusive_of_start=False
                )
                if not notifications:
                    return self.position
                touched: dict[UUID, int] = {}
                for n in notifications:
                    if issubclass(resolve_topic(n.topic), self.events):
                        touched.pop(n.originator_id, None)  # keep the order of latest change
                        touched[n.originator_id] = n.originator_version
                for aggregate_id, version in touched.items():
                    self.project(aggregate_id, version)
                self.position = notifications[-1].id
