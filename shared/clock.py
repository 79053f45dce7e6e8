"""The time the services go by: the real time, or — for drills and tests across real
processes — the real time moved on by the offset written in `ONESTOP_CLOCK_FILE`."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from eventsourcing.domain import CanCreateTimestamp

from shared.domain import utcnow

Clock = Callable[[], datetime]


class OffsetClock:
    """Real time plus the number of seconds in a file, re-read when the file changes. A
    missing or empty file means no offset."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: int | None = None
        self._offset = timedelta()

    def offset(self) -> timedelta:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return timedelta()
        if stamp != self._stamp:
            text = self.path.read_text().strip()
            self._offset = timedelta(seconds=float(text or 0))
            self._stamp = stamp
        return self._offset

    def __call__(self) -> datetime:
        return utcnow() + self.offset()


def clock_from(path: str | None) -> Clock:
    return OffsetClock(path) if path else utcnow


def service_clock(path: str | None) -> Clock:
    """The clock a service goes by. In a drill (`path` set) it also dates every event the
    process records, so that all three services live in the same moved time: a case
    registered after the clock moved is dated then, and not born overdue on follow-up's
    clock. Drills and tests only — never set in production."""
    clock = clock_from(path)
    if path:
        # the library dates events through this one static method: replacing it is the one
        # place where every event of the process learns the drill's time
        setattr(CanCreateTimestamp, "create_timestamp", staticmethod(clock))  # noqa: B010
    return clock


def set_offset(path: str | Path, offset: timedelta) -> None:
    """Move a drill's clock (tests); the services see it at their next reading."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(f"{offset.total_seconds()}\n")
    tmp.replace(path)
