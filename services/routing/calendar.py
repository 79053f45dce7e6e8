"""The work calendar routing counts working days with: the holiday years follow-up publishes
(`onestop.followup.calendar.published.v1`), over the years built in.

Reference data like the registry: every routed case reads it, and only what follow-up
publishes changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from shared.calendar import CHINA, WorkCalendar

CALENDAR_ID = uuid5(NAMESPACE_URL, "onestop:routing:holiday-calendar")


@dataclass(frozen=True)
class PublishedYear:
    """A year's days off and make-up working days, as follow-up last published them."""

    holidays: frozenset[date]
    make_up_days: frozenset[date]
    published_at: datetime


class PublishedCalendar(Aggregate):
    """The holiday years as follow-up last published them; each publication of a year
    replaces that year."""

    class Started(Aggregate.Created):
        pass

    class YearHeard(Aggregate.Event):
        year: int
        holidays: tuple[str, ...]
        """ISO dates, as follow-up publishes them."""
        make_up_days: tuple[str, ...]
        published_at: datetime

        def apply(self, book: PublishedCalendar) -> None:
            book.years[self.year] = PublishedYear(
                frozenset(map(date.fromisoformat, self.holidays)),
                frozenset(map(date.fromisoformat, self.make_up_days)),
                self.published_at,
            )

    def __init__(self) -> None:
        self.years: dict[int, PublishedYear] = {}

    @classmethod
    def start(cls) -> PublishedCalendar:
        return cls._create(cls.Started, id=CALENDAR_ID)

    def hear(
        self, year: int, holidays: list[date], make_up_days: list[date], published_at: datetime
    ) -> None:
        """Keep a year as published; the same publication heard again changes nothing."""
        heard = PublishedYear(frozenset(holidays), frozenset(make_up_days), published_at)
        if self.years.get(year) == heard:
            return
        self.trigger_event(
            self.YearHeard,
            year=year,
            holidays=tuple(sorted(d.isoformat() for d in heard.holidays)),
            make_up_days=tuple(sorted(d.isoformat() for d in heard.make_up_days)),
            published_at=published_at,
        )

    def calendar(self, base: WorkCalendar = CHINA) -> WorkCalendar:
        """`base` with each published year in place of its own."""
        found = base
        for year, days in sorted(self.years.items()):
            found = found.with_year(days.holidays, days.make_up_days, year)
        return found
