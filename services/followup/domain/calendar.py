"""The holiday calendar follow-up counts working days with: the State Council's public
holidays and make-up working days, year by year, as an admin publishes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from services.followup.domain.errors import FollowUpRefused
from shared.calendar import CHINA, WorkCalendar
from shared.domain import Actor, Attributed, Trace, attribution

CALENDAR_ID = uuid5(NAMESPACE_URL, "onestop:followup:holiday-calendar")


@dataclass(frozen=True)
class HolidayYear:
    """One year as published: its days off, the weekend days worked instead, and
    the admin who published it."""

    holidays: frozenset[date]
    make_up_days: frozenset[date]
    by: str


class HolidayCalendar(Aggregate):
    """The public holidays and make-up working days by year, as the State Council publishes
    them each autumn; what is published here overrides the built-in years."""

    class Started(Aggregate.Created):
        pass

    class YearPublished(Attributed):
        year: int
        holidays: list[str]
        make_up_days: list[str]

        def apply(self, book: HolidayCalendar) -> None:
            book.years[self.year] = HolidayYear(
                frozenset(date.fromisoformat(d) for d in self.holidays),
                frozenset(date.fromisoformat(d) for d in self.make_up_days),
                self.actor["user"],
            )

    def __init__(self) -> None:
        self.years: dict[int, HolidayYear] = {}

    @classmethod
    def start(cls) -> HolidayCalendar:
        return cls._create(cls.Started, id=CALENDAR_ID)

    def publish(
        self,
        year: int,
        holidays: Sequence[date],
        make_up_days: Sequence[date],
        actor: Actor,
        trace: Trace,
    ) -> None:
        for name, days in (("holidays", holidays), ("make_up_days", make_up_days)):
            for i, day in enumerate(days):
                if day.year != year:
                    raise FollowUpRefused(f"{day} is not in {year}", field=f"{name}.{i}")
        clash = sorted(set(holidays) & set(make_up_days))
        if clash:
            raise FollowUpRefused(
                f"{clash[0]} cannot be both a holiday and a working day", field="make_up_days"
            )
        self.trigger_event(
            self.YearPublished,
            year=year,
            holidays=sorted(d.isoformat() for d in set(holidays)),
            make_up_days=sorted(d.isoformat() for d in set(make_up_days)),
            **attribution(actor, trace),
        )

    def calendar(self, base: WorkCalendar = CHINA) -> WorkCalendar:
        """`base` with the years published here in place of its own."""
        found = base
        for year, days in sorted(self.years.items()):
            found = found.with_year(days.holidays, days.make_up_days, year)
        return found
