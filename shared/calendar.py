"""Time limits as the regulation counts them: calendar days, or working days with the
national holiday calendar (public holidays off, make-up working days on weekends, 调休).

Days are counted in the centre's local time zone: "within 5 working days" of a Friday
afternoon in Tianjin ends at the end of the next Friday there, whatever UTC says.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Unit = Literal["hours", "days", "working-days", "months"]
UNITS: tuple[Unit, ...] = ("hours", "days", "working-days", "months")
LOCAL = ZoneInfo("Asia/Shanghai")


def local_minute(moment: datetime | str, zone: ZoneInfo = LOCAL) -> str:
    """A moment (or its ISO text) as people at the centre read it: `2026-11-28 22:49`."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Period:
    """An amount of time as a rule states it: 15 days, 5 working days, 1 month."""

    amount: int
    unit: Unit = "days"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; one of {', '.join(UNITS)}")
        if self.amount < 0:
            raise ValueError("a period is not negative")

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


def _days(first: str, last: str) -> frozenset[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return frozenset(start + timedelta(days=i) for i in range((end - start).days + 1))


# The State Council's notice on the 2026 public holidays (国务院办公厅关于2026年部分节假日安排的
# 通知): the days off, and the weekend days worked instead (调休上班). Later years are added with
# `onestop`'s admin API when the notice is published; until then only weekends are off.
HOLIDAYS_2026 = (
    _days("2026-01-01", "2026-01-03")
    | _days("2026-02-15", "2026-02-23")
    | _days("2026-04-04", "2026-04-06")
    | _days("2026-05-01", "2026-05-05")
    | _days("2026-06-19", "2026-06-21")
    | _days("2026-09-25", "2026-09-27")
    | _days("2026-10-01", "2026-10-07")
)
MAKE_UP_DAYS_2026 = frozenset(
    date.fromisoformat(d)
    for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
)


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days, and where a period that starts at a moment ends."""

    holidays: frozenset[date] = HOLIDAYS_2026
    make_up_days: frozenset[date] = MAKE_UP_DAYS_2026
    zone: ZoneInfo = field(default=LOCAL)

    def is_working_day(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        return day.isoweekday() <= 5 and day not in self.holidays

    def years(self) -> list[int]:
        return sorted({d.year for d in self.holidays | self.make_up_days})

    def end(self, start: datetime, period: Period) -> datetime:
        """When `period` from `start` runs out.

        Hours and calendar days run from the moment itself (15 days from 10:00 is 10:00
        fifteen days on). Working days are counted from the next local day and run to the
        end of the last one. Months keep the day of the month (Jan 31 + 1 month is the last
        day of February).
        """
        if period.unit == "hours":
            return start + timedelta(hours=period.amount)
        if period.unit == "days":
            return start + timedelta(days=period.amount)
        local = start.astimezone(self.zone)
        if period.unit == "months":
            month = local.month - 1 + period.amount
            year, month = local.year + month // 12, month % 12 + 1
            last = _calendar.monthrange(year, month)[1]
            moved = local.replace(year=year, month=month, day=min(local.day, last))
            return moved.astimezone(start.tzinfo)
        day = local.date()
        counted = 0
        while counted < period.amount:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        ending = datetime.combine(day, time.max, tzinfo=self.zone)
        return ending.astimezone(start.tzinfo)

    def with_year(
        self, holidays: frozenset[date], make_up_days: frozenset[date], year: int
    ) -> WorkCalendar:
        """This calendar with one year's holidays replaced."""
        keep = {d for d in self.holidays if d.year != year}
        keep_make_up = {d for d in self.make_up_days if d.year != year}
        return WorkCalendar(
            frozenset(keep | holidays), frozenset(keep_make_up | make_up_days), self.zone
        )

    def with_published(self, years: Mapping[int, Mapping[str, Iterable[str]]]) -> WorkCalendar:
        """This calendar with the years as published in place of its own: for each year its
        `holidays` and `make_up_days`, as ISO dates (as the holiday calendars keep them)."""
        found = self
        for year, days in sorted(years.items()):
            found = found.with_year(
                frozenset(date.fromisoformat(d) for d in days["holidays"]),
                frozenset(date.fromisoformat(d) for d in days["make_up_days"]),
                year,
            )
        return found


CHINA = WorkCalendar()
