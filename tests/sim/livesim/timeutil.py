"""Time parsing and the exact text formats AWS and Linux print."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """Parse ISO-8601 (`2026-12-03T01:00:00Z`, with fraction or offset, or a bare date) as UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(text: str) -> date:
    return date.fromisoformat(text.strip()[:10])


def iso_seconds(moment: datetime) -> str:
    """`2026-12-03T01:00:00Z`: EventBridge `time`, inventory CaptureTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """`2026-12-03T01:00:00.000Z`: Run Command's string date-times."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_micros(moment: datetime) -> str:
    """`2026-12-03T01:00:00.000000Z`: the maintenance window events' start-time and end-time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def elapsed(seconds: float) -> str:
    """ISO-8601 duration as GetCommandInvocation prints it: `PT3.052S`."""
    return f"PT{seconds:.3f}S"


def add_months_clamped(day: date, months: int) -> date:
    """Calendar months later, the day clamped to the month's end (Patch Manager's KLP window)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last_day))


def uname_v(built: datetime, flags: str) -> str:
    """`uname -v`: `#1 SMP Tue Oct 13 18:21:30 UTC 2026` (flags e.g. `SMP` or `SMP PREEMPT_DYNAMIC`)."""
    utc = built.astimezone(UTC)
    stamp = f"{utc.strftime('%a %b')} {utc.day} {utc.strftime('%H:%M:%S')} UTC {utc.year}"
    return f"#1 {flags} {stamp}"
