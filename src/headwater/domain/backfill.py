"""A backfill's logical dates: from start to end (inclusive) every step, in a timezone.

Days and weeks step the wall clock (every "1d" is midnight to midnight, whatever DST
does); hours, minutes and seconds step real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from headwater.domain.durations import calendar_step
from headwater.domain.problems import Problem
from headwater.domain.timetable import timezone_problems
from headwater.errors import ValidationError

MAX_BACKFILL_RUNS = 10_000


def parse_local_time(text: str, timezone: str, field: str) -> float:
    """`2026-01-01` or `2026-01-01T06:00[+01:00]` as epoch seconds; a time without an
    offset is a wall time in `timezone`."""
    problems = timezone_problems(timezone)
    if problems:
        raise ValidationError(problems)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            [Problem("", field, f"expected a date or ISO 8601 time, got {text!r}")]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise ValidationError([Problem("", field, f"out of range: {text!r}")]) from None


def next_logical_date(current: float, every: str, timezone: str) -> float:
    days, seconds = calendar_step(every, "every")
    zone = ZoneInfo(timezone)
    moment = datetime.fromtimestamp(current, zone)
    if days:
        wall = moment.replace(tzinfo=None) + timedelta(days=days)
        moment = wall.replace(tzinfo=zone)
    return moment.timestamp() + seconds


def logical_dates(start: float, end: float, every: str, timezone: str) -> list[float]:
    """Every logical date from `start` to `end` inclusive; a ValidationError when the
    range is empty or longer than MAX_BACKFILL_RUNS."""
    if end < start:
        raise ValidationError([Problem("", "end", "must not be before start")])
    dates: list[float] = []
    current = start
    while current <= end:
        if len(dates) == MAX_BACKFILL_RUNS:
            raise ValidationError(
                [Problem("", "every", f"more than {MAX_BACKFILL_RUNS} runs; split the range")]
            )
        dates.append(current)
        try:
            current = next_logical_date(current, every, timezone)
        except (OverflowError, ValueError):  # past the year 9999: nothing more to add
            break
    return dates
