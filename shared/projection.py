"""In-memory read models that follow an application's notification log.

Each is rebuilt from the log when its process starts and brought up to date before it is
read, so it never disagrees with the event store for long and can always be thrown away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID


class LogFollower:
    """Calls `project(aggregate_id)` for every aggregate whose topic contains `marker` and
    that changed since the last catch-up, in the order of their latest change."""

    BATCH = 500

    def __init__(self, app: Any, marker: str, project: Callable[[UUID], None]) -> None:
        self.app = app
        self.marker = marker
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
                touched = dict.fromkeys(
                    n.originator_id for n in notifications if self.marker in n.topic
                )
                for aggregate_id in touched:
                    self.project(aggregate_id)
                self.position = notifications[-1].id
