"""When a schedule fires: cron expressions in an IANA timezone, or fixed intervals.

Cron: 5 fields (minute hour day-of-month month day-of-week), 6 fields with seconds
first (second minute hour ...), or an alias (`@hourly`, `@daily`, `@midnight`,
`@weekly`, `@monthly`, `@yearly`, `@annually`). Fields are matched against the wall
clock of `timezone`. Around DST changes the rule is:

* A wall time that does not exist (the hour skipped when clocks go forward) fires
  once, shifted forward by the length of the gap: a daily 02:30 in New York fires at
  03:30 EDT on the spring-forward day.
* A wall time that occurs twice (the hour repeated when clocks go back) fires once, at
  its first occurrence: a daily 01:30 fires at 01:30 EDT, not again at 01:30 EST.
* Except schedules whose hour field matches every hour (`0 * * * *`, `*/5 * * * *`,
  every-second schedules): they follow real time, so they fire in both occurrences of
  the repeated hour and never twice at one instant. An hourly schedule fires 23 times
  on a spring-forward day and 25 times on a fall-back day, once per real hour.

Intervals (`interval_seconds`) are real time, unaffected by DST: ticks at
``start_at + k * interval`` (or ``k * interval`` since the epoch without `start_at`).

Every instant is seconds since the epoch (float). No tick fires before `start_at` or
at/after `end_at`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater.domain.problems import Problem

if TYPE_CHECKING:
    from croniter import croniter

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Offsets are compared this far either side of an instant to see a DST change coming:
# wider than any real zone's jump (at most 2 h), narrow enough to stay cheap.
_DST_WINDOW = timedelta(hours=3)
# "Just before" an instant: datetimes hold microseconds, so a smaller step would round
# back onto the instant itself.
_EPSILON = 1e-3


def timezone_problems(name: str, field: str = "timezone") -> list[Problem]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [Problem("", field, f"unknown IANA timezone {name!r} (e.g. Europe/London)")]
    return []


def cron_problems(expression: str, field: str = "cron") -> list[Problem]:
    expanded = CRON_ALIASES.get(expression.strip().lower(), expression)
    fields = expanded.split()
    if len(fields) not in (5, 6):
        return [Problem("", field, f"expected 5 or 6 fields or an @alias, got {expression!r}")]
    from croniter import croniter  # imported when a cron is used: it is slow to load

    if not croniter.is_valid(expanded, second_at_beginning=len(fields) == 6):
        return [Problem("", field, f"not a valid cron expression: {expression!r}")]
    return []


@dataclass(frozen=True)
class Timetable:
    """The fire times of a schedule: exactly one of `cron` and `interval_seconds`."""

    cron: str | None = None
    interval_seconds: float | None = None
    timezone: str = "UTC"
    start_at: float | None = None
    end_at: float | None = None

    def problems(self) -> list[Problem]:
        found = timezone_problems(self.timezone)
        if (self.cron is None) == (self.interval_seconds is None):
            found.append(Problem("", "cron", "give exactly one of cron and interval"))
        elif self.cron is not None:
            found += cron_problems(self.cron)
        elif self.interval_seconds is not None and not self.interval_seconds > 0:
            found.append(Problem("", "interval", "must be a positive number of seconds"))
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            found.append(Problem("", "end_at", "must be after start_at"))
        return found

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, instant: float) -> float | None:
        """The first fire time strictly after `instant`; None if the schedule has ended."""
        if self.start_at is not None and instant < self.start_at:
            # The start itself may be a fire time: look from just before it.
            instant = self.start_at - _EPSILON
        found = (
            self._next_interval(instant)
            if self.interval_seconds is not None
            else self._cron_next(instant, forward=True)
        )
        if self.end_at is not None and found >= self.end_at:
            return None
        return found

    def previous_before(self, instant: float) -> float | None:
        """The last fire time strictly before `instant`; None if there is none."""
        if self.end_at is not None and instant > self.end_at:
            instant = self.end_at
        found = (
            self._previous_interval(instant)
            if self.interval_seconds is not None
            else self._cron_next(instant, forward=False)
        )
        if self.start_at is not None and found < self.start_at:
            return None
        return found

    def interval_start(self, tick: float) -> float:
        """The start of the data interval a tick closes: the fire time before it, as if
        the schedule had no start bound (the first tick covers a whole interval too)."""
        if self.interval_seconds is not None:
            return tick - self.interval_seconds
        return self._cron_next(tick, forward=False)

    def next_times(self, after: float, count: int) -> list[float]:
        times: list[float] = []
        current = after
        while len(times) < count:
            found = self.next_after(current)
            if found is None:
                break
            times.append(found)
            current = found
        return times

    def due_ticks(self, checked_until: float, now: float, limit: int) -> list[float]:
        """Fire times in (checked_until, now], the latest `limit` of them, oldest first.
        Walks back from `now`, so a long downtime costs `limit` steps, not one per tick."""
        ticks: list[float] = []
        current = now + _EPSILON
        while len(ticks) < limit:
            found = self.previous_before(current)
            if found is None or found <= checked_until:
                break
            ticks.append(found)
            current = found
        return ticks[::-1]

    # -- intervals ------------------------------------------------------------------

    def _next_interval(self, instant: float) -> float:
        step, anchor = self._interval()
        k = math.floor((instant - anchor) / step) + 1
        while anchor + k * step <= instant:  # float division may land one step short
            k += 1
        return anchor + k * step

    def _previous_interval(self, instant: float) -> float:
        step, anchor = self._interval()
        k = math.ceil((instant - anchor) / step) - 1
        while anchor + k * step >= instant:
            k -= 1
        return anchor + k * step

    def _interval(self) -> tuple[float, float]:
        assert self.interval_seconds is not None
        return self.interval_seconds, self.start_at if self.start_at is not None else 0.0

    # -- cron -------------------------------------------------------------------------

    @cached_property
    def _expression(self) -> str:
        assert self.cron is not None
        return CRON_ALIASES.get(self.cron.strip().lower(), self.cron)

    @cached_property
    def _follows_real_time(self) -> bool:
        """True when the hour field matches every hour (see the module docstring)."""
        fields = self._expression.split()
        second_first = len(fields) == 6
        from croniter import croniter

        expanded = croniter(self._expression, second_at_beginning=second_first).expanded
        hours = expanded[1] if not second_first else expanded[2]
        return hours == ["*"] or set(hours) == set(range(24))

    def _instants(self, wall: datetime) -> list[float]:
        """The instants a matching wall-clock time fires at (rule in the docstring)."""
        first = wall.replace(tzinfo=self.zone, fold=0).timestamp()
        second = wall.replace(tzinfo=self.zone, fold=1).timestamp()
        if first >= second:  # unambiguous, or skipped: fold=0 shifts a skipped time forward
            return [first]
        return [first, second] if self._follows_real_time else [first]

    def _wall(self, instant: float) -> datetime:
        return datetime.fromtimestamp(instant, self.zone).replace(tzinfo=None)

    def _margin(self, instant: float) -> timedelta:
        """How far wall time and real time may disagree in order near `instant`: the
        size of a DST change close by, else zero."""
        moment = datetime.fromtimestamp(instant, UTC)
        before = (moment - _DST_WINDOW).astimezone(self.zone).utcoffset()
        after = (moment + _DST_WINDOW).astimezone(self.zone).utcoffset()
        assert before is not None
        assert after is not None
        return abs(after - before)

    def _cron_next(self, instant: float, *, forward: bool) -> float:
        if self._follows_real_time:
            return self._real_time_next(instant, forward=forward)
        return next(self._cron_walk(instant, forward=forward))

    def _croniter(self, wall: datetime) -> croniter:
        from croniter import croniter

        return croniter(
            self._expression, wall, second_at_beginning=len(self._expression.split()) == 6
        )

    def _offset(self, instant: float) -> timedelta:
        offset = datetime.fromtimestamp(instant, self.zone).utcoffset()
        assert offset is not None
        return offset

    def _real_time_next(self, instant: float, *, forward: bool) -> float:
        """For schedules that follow real time: match the wall clock one stretch of
        constant UTC offset at a time, moving to the next stretch at a DST change."""
        current = instant
        offset = self._offset(current if forward else current - _EPSILON)
        while True:
            wall = datetime.fromtimestamp(current, UTC).replace(tzinfo=None) + offset
            walker = self._croniter(wall)
            found: datetime = walker.get_next(datetime) if forward else walker.get_prev(datetime)
            candidate = (found - offset).replace(tzinfo=UTC).timestamp()
            if self._offset(candidate) == offset:
                return candidate
            # The stretch ended between `current` and `candidate`: go on from its end.
            if forward:
                change = self._change_between(current, candidate, offset)
                current = change - _EPSILON
                offset = self._offset(change)
            else:
                change = self._change_between(candidate, current, self._offset(candidate))
                current = change
                offset = self._offset(change - _EPSILON)

    def _change_between(self, early: float, late: float, early_offset: timedelta) -> float:
        """The first whole second after `early` whose offset is not `early_offset`
        (DST changes happen on whole seconds)."""
        low, high = math.floor(early), math.ceil(late)
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == early_offset:
                low = middle
            else:
                high = middle
        return float(high)

    def _cron_walk(self, instant: float, *, forward: bool) -> Iterator[float]:
        """Fire times after (forward) or before `instant`, nearest first.

        Wall times are walked in order and turned into instants; near a DST change the
        instants of neighbouring wall times may come out of order by up to the size of
        the change, so they wait in a heap until no later wall time can come before."""
        sign = 1 if forward else -1
        margin = self._margin(instant)
        start = self._wall(instant) - sign * (margin + timedelta(seconds=1))
        walker = self._croniter(start)
        step: Callable[[type[datetime]], datetime] = walker.get_next if forward else walker.get_prev
        heap: list[float] = []
        last = instant
        while True:
            wall = step(datetime)
            instants = self._instants(wall)
            for found in instants:
                if sign * (found - instant) > 0:
                    heapq.heappush(heap, sign * found)
            nearest = min(instants) if forward else max(instants)
            bound = sign * nearest - self._margin(nearest).total_seconds()
            while heap and heap[0] <= bound:
                found = sign * heapq.heappop(heap)
                if sign * (found - last) > 0:  # two wall times may share an instant
                    last = found
                    yield found
