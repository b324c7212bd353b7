"""Maintenance window schedules: `at(...)`, `cron(...)` and `rate(...)` in a time zone (DOMAIN.md §6).

A schedule answers one question, `next_after(moment)`: the first occurrence strictly
later than `moment`, as an aware UTC datetime, or None. Everything else (firing, the
window's StartDate/EndDate, NextExecutionTime, DescribeMaintenanceWindowSchedule)
is built on it.

Local times are interpreted in the window's `ScheduleTimezone` with zoneinfo, so
occurrences follow daylight saving time. AWS documents nothing for the two ambiguous
cases, so livesim picks what cron does: a local time that does not exist (the hour
skipped in spring) runs as if the clock had not jumped (02:30 runs at 03:30 local);
a local time that happens twice (autumn) runs once, at the first.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron's 1..7
CRON_SEARCH_DAYS = 366 * 8  # covers `29 2 ? ...`-style rare dates; beyond it a cron is "never"

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_RATE = re.compile(r"^rate\((\d+) (hour|hours|day|days)\)$")


class ScheduleError(ValueError):
    """A schedule expression, time zone or offset SSM would refuse; the message says why."""


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime | None: ...


def time_zone(name: str | None) -> tzinfo:
    """The IANA zone of `ScheduleTimezone`; absent means UTC."""
    if not name or name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"Invalid ScheduleTimezone: {name} is not an IANA time zone.") from None


def localize(local: datetime, zone: tzinfo) -> datetime:
    """A naive local wall time in `zone` as a UTC instant (fold=0; see the module's note on DST)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def parse_schedule(expression: str, zone: tzinfo, offset_days: int | None, anchor: datetime) -> Schedule:
    """`anchor` is when a rate schedule starts counting (StartDate, else the window's creation)."""
    text = expression.strip()
    if offset_days is not None and not text.startswith("cron("):
        raise ScheduleError("ScheduleOffset can be used only with cron expressions.")
    if match := _AT.match(text):
        try:
            local = datetime.fromisoformat(match.group(1))
        except ValueError:
            raise ScheduleError(f"Invalid at() date: {match.group(1)}") from None
        return AtSchedule(localize(local, zone))
    if match := _CRON.match(text):
        return CronSchedule.parse(match.group(1), zone, offset_days or 0)
    if match := _RATE.match(text):
        count, unit = int(match.group(1)), match.group(2)
        if count < 1:
            raise ScheduleError("A rate must be at least 1.")
        step = timedelta(hours=count) if unit.startswith("hour") else timedelta(days=count)
        return RateSchedule(anchor, step)
    raise ScheduleError(
        f"Invalid schedule expression {expression!r}: use at(yyyy-mm-ddThh:mm:ss), "
        "cron(minutes hours day-of-month month day-of-week year) or rate(n hours|days)."
    )


@dataclass(frozen=True)
class AtSchedule:
    """One-time: `at(2027-01-10T03:00:00)`, local time."""

    instant: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.instant if self.instant > moment else None


@dataclass(frozen=True)
class RateSchedule:
    """`rate(n hours|days)`: every `step` from `anchor` on (the first run one step after it)."""

    anchor: datetime
    step: timedelta

    def next_after(self, moment: datetime) -> datetime | None:
        if moment < self.anchor:
            return self.anchor + self.step
        steps = (moment - self.anchor) // self.step + 1
        return self.anchor + steps * self.step


@dataclass(frozen=True)
class _DayOfWeek:
    """One day-of-week term: `WED`, `2-6`, `THU#3` (third Thursday), `5L` (last Thursday)."""

    days: frozenset[int]  # cron numbering, 1 = SUN
    nth: int | None = None
    last: bool = False

    def matches(self, day: date) -> bool:
        if _cron_weekday(day) not in self.days:
            return False
        if self.nth is not None:
            return (day.day - 1) // 7 + 1 == self.nth
        if self.last:
            return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
        return True


@dataclass(frozen=True)
class CronSchedule:
    """`cron(minutes hours day-of-month month day-of-week year)`, AWS flavour.

    Supported: `*`, `?`, lists, ranges, steps, month and weekday names, `L` (last day of
    the month), `DOW#n` and `DOWL`. Not supported (rejected): `W`, and `L-n` offsets.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int] | None  # None: `?` or `*`
    last_day_of_month: bool
    months: frozenset[int]
    days_of_week: tuple[_DayOfWeek, ...] | None
    years: frozenset[int] | None
    zone: tzinfo
    offset_days: int

    @classmethod
    def parse(cls, body: str, zone: tzinfo, offset_days: int) -> CronSchedule:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleError(
                f"Invalid cron expression cron({body}): it needs 6 fields "
                "(minutes hours day-of-month month day-of-week year)."
            )
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(
                f"Invalid cron expression cron({body}): exactly one of day-of-month and "
                "day-of-week must be '?'."
            )
        last_day = dom == "L"
        return cls(
            minutes=tuple(sorted(_values(minute, 0, 59))),
            hours=tuple(sorted(_values(hour, 0, 23))),
            days_of_month=None if dom in ("?", "*") or last_day else frozenset(_values(dom, 1, 31)),
            last_day_of_month=last_day,
            months=frozenset(_values(month, 1, 12, MONTHS)),
            days_of_week=None if dow in ("?", "*") else tuple(_day_of_week(t) for t in dow.split(",")),
            years=None if year in ("*", "?") else frozenset(_values(year, 1970, 2199)),
            zone=zone,
            offset_days=offset_days,
        )

    def next_after(self, moment: datetime) -> datetime | None:
        # The offset moves runs later, so a run after `moment` may come from a cron date before it.
        first = moment.astimezone(self.zone).date() - timedelta(days=self.offset_days + 1)
        for index in range(CRON_SEARCH_DAYS):
            day = first + timedelta(days=index)
            if not self._matches(day):
                continue
            run_day = day + timedelta(days=self.offset_days)
            for hour in self.hours:
                for minute in self.minutes:
                    local = datetime(run_day.year, run_day.month, run_day.day, hour, minute)
                    instant = localize(local, self.zone)
                    if instant > moment:
                        return instant
        return None

    def _matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.last_day_of_month and day.day != calendar.monthrange(day.year, day.month)[1]:
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        return self.days_of_week is None or any(term.matches(day) for term in self.days_of_week)


def _cron_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday is 0 in Python, 2 in cron


def _day_of_week(term: str) -> _DayOfWeek:
    if "#" in term:
        name, _, nth = term.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f"Invalid day-of-week {term!r}: #n must be 1 to 5.")
        return _DayOfWeek(frozenset(_values(name, 1, 7, WEEKDAYS)), nth=int(nth))
    if term.endswith("L") and len(term) > 1:
        return _DayOfWeek(frozenset(_values(term[:-1], 1, 7, WEEKDAYS)), last=True)
    return _DayOfWeek(frozenset(_values(term, 1, 7, WEEKDAYS)))


def _values(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    """A cron field's values: `*`, `a`, `a-b`, `a/n`, `a-b/n`, `*/n`, comma lists, names."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, 1, high, ()) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            start, end = _number(start_text, low, high, names), _number(end_text, low, high, names)
        else:
            start = _number(base, low, high, names)
            end = high if step_text else start
        if start > end:
            raise ScheduleError(f"Invalid cron field {field!r}: {start} is after {end}.")
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise ScheduleError(f"Invalid cron value {text!r}: expected {low}-{high}.")
    return int(text)
