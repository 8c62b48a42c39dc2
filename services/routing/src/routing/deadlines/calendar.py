"""Working time: an official's hours and time zone with the Russian calendar of days off.

`holidays.Russia` knows the public holidays of the Labour Code (art. 112) and the days off the
government moves each year ("Day off (substituted from …)"). It does not know the Saturdays that
become working days in exchange, nor the shortened pre-holiday day; the former come from the
ROUTING_EXTRA_WORKING_DAYS setting, the latter is ignored (a one-hour error at most).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from incidents_common.db import as_utc

MAX_DAYS = 3 * 366  # nobody's SLA spans more than that; stops a loop on a calendar with no working day


@lru_cache(maxsize=64)
def _russian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("RU", years=year).keys())


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """A time zone by name. ZoneInfo keeps only the last 8 zones it made; Russia has 11, a batch of
    incidents names most of them, and reading a zone's file again was 2 % of routing's CPU."""
    return ZoneInfo(name)


def is_public_holiday(day: date) -> bool:
    return day in _russian_holidays(day.year)


def _parse_time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


_SUMS: dict[tuple[object, ...], datetime] = {}  # (calendar, start, seconds) → WorkCalendar.add's answer


class WorkCalendar:
    """Working windows [start, end) on working days, in one time zone."""

    def __init__(
        self,
        timezone: str,
        *,
        work_start: str = "09:00",
        work_end: str = "18:00",
        work_days: Iterable[int] = (1, 2, 3, 4, 5),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self.timezone = timezone
        self.tz = zone(timezone)
        self.start = _parse_time(work_start)
        self.end = _parse_time(work_end)
        if self.end <= self.start:
            raise ValueError(f"working hours end {work_end} before they start {work_start}")
        self.work_days = frozenset(work_days)
        self.extra_working_days = frozenset(extra_working_days)
        self._key = (timezone, self.start, self.end, self.work_days, self.extra_working_days)

    @property
    def day_seconds(self) -> float:
        return (datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)).total_seconds()

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if is_public_holiday(day):
            return False
        return day.isoweekday() in self.work_days

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.start, tzinfo=self.tz),
            datetime.combine(day, self.end, tzinfo=self.tz),
        )

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time after `start` (UTC in, UTC out)."""
        # Routing stamps a whole batch with one time, so its new incidents ask the same sums again.
        key = (self._key, start, seconds)
        found = _SUMS.get(key)
        if found is None:
            if len(_SUMS) >= 4096:
                _SUMS.clear()
            found = _SUMS[key] = self._add(start, seconds)
        return found

    def _add(self, start: datetime, seconds: float) -> datetime:
        cursor = as_utc(start).astimezone(self.tz)
        remaining = max(seconds, 0.0)
        day = cursor.date()
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self._window(day)
                begin = max(cursor, opens)
                if begin < closes:
                    available = (closes - begin).total_seconds()
                    if remaining <= available:
                        return as_utc(begin + timedelta(seconds=remaining))
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"no working time within {MAX_DAYS} days in calendar {self.timezone}")

    def add_days(self, start: datetime, days: float) -> datetime:
        """Working days counted as whole working windows of this calendar."""
        return self.add(start, days * self.day_seconds)

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end)."""
        begin, finish = as_utc(start).astimezone(self.tz), as_utc(end).astimezone(self.tz)
        if finish <= begin:
            return 0.0
        total = 0.0
        day = begin.date()
        while day <= finish.date():
            if self.is_working_day(day):
                opens, closes = self._window(day)
                lo, hi = max(begin, opens), min(finish, closes)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


class RoundTheClock(WorkCalendar):
    """Every hour of every day, holidays included: the clocks of a critical incident. A "day" of a
    policy's days is 24 hours here."""

    def __init__(self, timezone: str) -> None:
        super().__init__(timezone, work_start="00:00", work_end="23:59", work_days=range(1, 8))
        # add()'s cache key: an empty window no WorkCalendar can have, so never another calendar's sums
        self._key = (timezone, time.min, time.min, frozenset(), frozenset())

    @property
    def day_seconds(self) -> float:
        return 86_400.0

    def is_working_day(self, day: date) -> bool:
        return True

    def _add(self, start: datetime, seconds: float) -> datetime:
        return as_utc(start) + timedelta(seconds=max(seconds, 0.0))

    def between(self, start: datetime, end: datetime) -> float:
        return max((as_utc(end) - as_utc(start)).total_seconds(), 0.0)
