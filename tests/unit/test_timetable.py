"""Fire times of cron and interval schedules, and the DST rule of docs/schedules.md:
skipped wall times fire once, shifted forward; repeated wall times fire once, at the
first occurrence; schedules that match every hour follow real time (23 or 25 fires on
the day of a change, never two at one instant)."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.domain.timetable import Timetable


def _instant(zone: str, text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def _fires_on(table: Timetable, day: str) -> list[str]:
    """Local times (with their zone abbreviation) the schedule fires at on `day`."""
    zone = ZoneInfo(table.timezone)
    start = _instant(table.timezone, f"{day}T00:00") - 0.5
    end = _instant(table.timezone, f"{day}T23:59:59")
    times = []
    current = table.next_after(start)
    while current is not None and current <= end:
        times.append(datetime.fromtimestamp(current, zone).strftime("%H:%M %Z"))
        current = table.next_after(current)
    return times


# (zone, spring-forward day, its skipped wall time, fall-back day, its repeated wall time)
ZONES = [
    ("Europe/London", "2026-03-29", "01:30", "2026-10-25", "01:30"),
    ("America/New_York", "2026-03-08", "02:30", "2026-11-01", "01:30"),
]


@pytest.mark.parametrize(("zone", "spring", "skipped", "_fall", "_repeated"), ZONES)
def test_a_daily_schedule_at_a_skipped_time_fires_once_shifted_forward(
    zone: str, spring: str, skipped: str, _fall: str, _repeated: str
) -> None:
    hour, minute = skipped.split(":")
    table = Timetable(cron=f"{int(minute)} {int(hour)} * * *", timezone=zone)
    fired = _fires_on(table, spring)
    assert len(fired) == 1
    shifted = f"{int(hour) + 1:02d}:{minute}"
    assert fired[0].startswith(shifted)
    # The days around it fire at the wall time itself.
    assert [t[:5] for t in _fires_on(table, spring.replace(spring[-2:], "15"))] == [skipped]


@pytest.mark.parametrize(("zone", "_spring", "_skipped", "fall", "repeated"), ZONES)
def test_a_daily_schedule_at_a_repeated_time_fires_once_at_the_first(
    zone: str, _spring: str, _skipped: str, fall: str, repeated: str
) -> None:
    hour, minute = repeated.split(":")
    table = Timetable(cron=f"{int(minute)} {int(hour)} * * *", timezone=zone)
    fired = _fires_on(table, fall)
    summer = {"Europe/London": "BST", "America/New_York": "EDT"}[zone]
    assert fired == [f"{repeated} {summer}"]


@pytest.mark.parametrize(("zone", "spring", "_skipped", "fall", "_repeated"), ZONES)
def test_an_hourly_schedule_fires_once_per_real_hour_across_both_changes(
    zone: str, spring: str, _skipped: str, fall: str, _repeated: str
) -> None:
    table = Timetable(cron="@hourly", timezone=zone)
    for day, hours in ((spring, 23), (fall, 25)):
        fired = _fires_on(table, day)
        assert len(fired) == hours
        assert len(set(fired)) == hours  # no instant twice
        instants = [_instant(zone, f"{day}T00:00")]
        current = instants[0]
        for _ in range(hours - 1):
            nxt = table.next_after(current)
            assert nxt == current + 3600  # one real hour apart, none skipped
            current = nxt


def test_an_every_fifteen_minutes_schedule_crosses_a_gap_without_doubling() -> None:
    table = Timetable(cron="*/15 * * * *", timezone="America/New_York")
    fired = _fires_on(table, "2026-03-08")
    assert "01:45 EST" in fired
    assert "03:00 EDT" in fired
    assert len(fired) == 23 * 4


@given(
    cron=st.sampled_from(["@hourly", "30 1 * * *", "*/20 * * * *", "0 2 * * 0", "* * * * * *"]),
    zone=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"]),
    start=st.floats(min_value=1.7e9, max_value=1.9e9),
)
@settings(max_examples=60, deadline=None)
def test_next_and_previous_are_inverse_and_increasing(cron: str, zone: str, start: float) -> None:
    table = Timetable(cron=cron, timezone=zone)
    times = table.next_times(start, 4)
    assert times == sorted(set(times))
    assert times[0] > start
    for earlier, later in itertools.pairwise(times):
        assert table.previous_before(later) == earlier


def test_six_fields_put_seconds_first_and_aliases_expand() -> None:
    assert Timetable(cron="*/10 * * * * *").next_times(100.0, 3) == [110.0, 120.0, 130.0]
    assert Timetable(cron="@daily").next_after(0.0) == 86400.0
    assert Timetable(cron="@hourly").previous_before(7200.0) == 3600.0


def test_intervals_are_anchored_and_bounded() -> None:
    table = Timetable(interval_seconds=60.0, start_at=30.0, end_at=200.0)
    assert table.next_times(0.0, 5) == [30.0, 90.0, 150.0]
    assert table.previous_before(30.0) is None
    # The first tick still closes a whole interval (its logical date is before it).
    assert table.interval_start(30.0) == -30.0
    assert Timetable(cron="@daily", start_at=86400.0).interval_start(86400.0) == 0.0
    assert Timetable(interval_seconds=1.0).next_after(5.0) == 6.0


def test_due_ticks_are_the_latest_ones_up_to_a_limit() -> None:
    table = Timetable(interval_seconds=1.0)
    assert table.due_ticks(100.0, 103.0, 10) == [101.0, 102.0, 103.0]
    assert table.due_ticks(100.0, 10_000.0, 3) == [9998.0, 9999.0, 10000.0]
    assert table.due_ticks(103.0, 103.5, 10) == []


@pytest.mark.parametrize(
    ("table", "field"),
    [
        (Timetable(cron="61 * * * *"), "cron"),
        (Timetable(cron="* * *"), "cron"),
        (Timetable(cron="@hourly", timezone="Mars/Olympus"), "timezone"),
        (Timetable(), "cron"),
        (Timetable(interval_seconds=-1.0), "interval"),
        (Timetable(cron="@daily", start_at=10.0, end_at=5.0), "end_at"),
    ],
)
def test_bad_definitions_name_the_field(table: Timetable, field: str) -> None:
    assert [p.path for p in table.problems()] == [field]
