"""The work calendar routing counts working days with: the holiday years follow-up publishes
(`onestop.followup.calendar.published.v1`), over the years built in.

Reference data like the registry: every routed case reads it, and only what follow-up
publishes changes it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from shared.calendar import CHINA, WorkCalendar

CALENDAR_ID = uuid5(NAMESPACE_URL, "onestop:routing:holiday-calendar")


class PublishedCalendar(Aggregate):
    """The holiday years as follow-up last published them; each publication of a year
    replaces that year."""

    class Started(Aggregate.Created):
        pass

    class YearHeard(Aggregate.Event):
        year: int
        holidays: list[str]
        make_up_days: list[str]
        published_at: datetime

        def apply(self, book: PublishedCalendar) -> None:
            book.years[self.year] = {
                "holidays": self.holidays,
                "make_up_days": self.make_up_days,
                "published_at": self.published_at,
            }

    def __init__(self) -> None:
        self.years: dict[int, dict[str, Any]] = {}

    @classmethod
    def start(cls) -> PublishedCalendar:
        return cls._create(cls.Started, id=CALENDAR_ID)

    def hear(
        self, year: int, holidays: list[date], make_up_days: list[date], published_at: datetime
    ) -> None:
        """Keep a year as published; the same publication heard again changes nothing."""
        days = {
            "holidays": sorted(d.isoformat() for d in set(holidays)),
            "make_up_days": sorted(d.isoformat() for d in set(make_up_days)),
        }
        if self.years.get(year) == {**days, "published_at": published_at}:
            return
        self.trigger_event(self.YearHeard, year=year, published_at=published_at, **days)

    def calendar(self, base: WorkCalendar = CHINA) -> WorkCalendar:
        return base.with_published(self.years)
