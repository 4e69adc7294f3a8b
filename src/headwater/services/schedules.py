"""Schedules: define, pause, resume, delete them, and fire their due ticks exactly once.

Firing a schedule is one transaction: lock its row (other schedulers skip it), work
out which ticks are due and which of them catch-up lets through, and for each insert
the tick's row and create its run together. A tick row that already exists means
another scheduler fired it, and nothing more happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from headwater.domain.problems import Problem
from headwater.domain.schedule import LATE_TICK_SECONDS, ScheduleSpec
from headwater.domain.templates import render, tick_variables
from headwater.domain.timetable import Timetable
from headwater.errors import Conflict, HeadwaterError, NotFound, ValidationError
from headwater.services.arguments import validate_run_args
from headwater.services.context import Services
from headwater.services.runs import Origin, create_run, run_request
from headwater.store import pipelines as pipeline_store
from headwater.store import schedules as schedule_store
from headwater.store.schedules import ACTIVE, PAUSED, ScheduleRow, TickRow

log = logging.getLogger("headwater.scheduler")
NEXT_FIRE_TIMES = 5


@dataclass(frozen=True)
class ScheduleView:
    schedule: ScheduleRow
    next_fire_times: list[float]  # the next 5 (fewer if it ends); none while paused


def timetable_of(row: ScheduleRow) -> Timetable:
    return Timetable(row.cron, row.interval_seconds, row.timezone, row.start_at, row.end_at)


def _definition(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "pipeline": spec.pipeline,
        "cron": spec.cron,
        "interval_seconds": spec.interval_seconds,
        "timezone": spec.timezone,
        "start_at": spec.start_at,
        "end_at": spec.end_at,
        "args": spec.args,
        "catchup": spec.catchup,
        "max_catchup": spec.max_catchup,
        "description": spec.description,
    }


def _check_against_pipeline(svc: Services, conn: Connection, spec: ScheduleSpec) -> None:
    """The pipeline exists and the arguments of its next tick would be valid."""
    spec.check()
    try:
        row = pipeline_store.get_pipeline(conn, spec.pipeline)
    except NotFound:
        raise ValidationError(
            [Problem("", "pipeline", f"no pipeline named {spec.pipeline!r}")]
        ) from None
    assert row.current_version_id is not None
    plan = svc.plans.get(conn, row.current_version_id)
    now = svc.db.clock(conn)
    args = render(spec.args, _variables(spec.name, spec.timetable, now))
    problems = [
        Problem("", p.path if p.path.startswith("args") else f"args.{p.path}", p.message)
        for p in validate_run_args(plan, args, {})
    ]
    if problems:
        raise ValidationError(problems, f"schedule {spec.name}: invalid arguments")


def _insert(conn: Connection, spec: ScheduleSpec, origin: str, now: float) -> bool:
    """Insert an active schedule that has handled every tick up to now; False if its
    name is taken."""
    return schedule_store.insert_schedule(
        conn,
        name=spec.name,
        **_definition(spec),
        state=ACTIVE,
        origin=origin,
        checked_until=now,
        next_tick_at=spec.timetable.next_after(now),
        created_at=now,
        updated_at=now,
    )


def create_schedule(svc: Services, spec: ScheduleSpec, origin: str = "api") -> ScheduleView:
    """Store a new schedule (active). Ticks before its creation never fire."""
    with svc.db.write() as conn:
        _check_against_pipeline(svc, conn, spec)
        now = svc.db.clock(conn)
        if not _insert(conn, spec, origin, now):
            raise Conflict(f"a schedule named {spec.name!r} exists")
        return _view(schedule_store.get_schedule(conn, spec.name), now)


def register_schedules(svc: Services, specs: list[ScheduleSpec], origin: str = "code") -> None:
    """Create or update the schedules a code location defines. An update keeps the
    schedule's state (a paused one stays paused) and the ticks it has handled."""
    for spec in specs:
        try:
            with svc.db.write() as conn:
                _check_against_pipeline(svc, conn, spec)
                _upsert(svc, conn, spec, origin)
        except (ValidationError, Conflict) as exc:
            log.error("not registering schedule %s: %s", spec.name, exc)


def _upsert(svc: Services, conn: Connection, spec: ScheduleSpec, origin: str) -> None:
    now = svc.db.clock(conn)
    found = schedule_store.find_schedule(conn, spec.name)
    if found is None:
        _insert(conn, spec, origin, now)
        return
    if found.origin != origin:
        raise Conflict(f"schedule {spec.name!r} was created through the {found.origin}")
    definition = _definition(spec)
    if all(getattr(found, key) == value for key, value in definition.items()):
        return  # every worker of a project registers the same definitions
    schedule_store.update_definition(
        conn,
        spec.name,
        **definition,
        next_tick_at=spec.timetable.next_after(found.checked_until),
        updated_at=now,
    )


def _view(row: ScheduleRow, now: float) -> ScheduleView:
    if row.state != ACTIVE:
        return ScheduleView(row, [])
    return ScheduleView(row, timetable_of(row).next_times(now, NEXT_FIRE_TIMES))


def get_schedule(svc: Services, name: str) -> ScheduleView:
    with svc.db.read() as conn:
        return _view(schedule_store.get_schedule(conn, name), svc.db.clock(conn))


def list_schedules(svc: Services, pipeline: str | None = None) -> list[ScheduleView]:
    with svc.db.read() as conn:
        now = svc.db.clock(conn)
        return [_view(row, now) for row in schedule_store.list_schedules(conn, pipeline)]


def list_ticks(svc: Services, name: str, limit: int = 20) -> list[TickRow]:
    with svc.db.read() as conn:
        schedule_store.get_schedule(conn, name)
        return schedule_store.list_ticks(conn, name, limit)


def pause_schedule(svc: Services, name: str) -> ScheduleView:
    with svc.db.write() as conn:
        row = schedule_store.get_schedule(conn, name)
        now = svc.db.clock(conn)
        schedule_store.set_progress(
            conn,
            name,
            checked_until=row.checked_until,
            next_tick_at=row.next_tick_at,
            now=now,
            state=PAUSED,
        )
        return _view(schedule_store.get_schedule(conn, name), now)


def resume_schedule(svc: Services, name: str) -> ScheduleView:
    """Make a paused schedule active again; ticks missed while paused go through its
    catch-up policy like ticks missed while no scheduler ran."""
    with svc.db.write() as conn:
        row = schedule_store.get_schedule(conn, name)
        now = svc.db.clock(conn)
        schedule_store.set_progress(
            conn,
            name,
            checked_until=row.checked_until,
            next_tick_at=timetable_of(row).next_after(row.checked_until),
            now=now,
            state=ACTIVE,
        )
        return _view(schedule_store.get_schedule(conn, name), now)


def delete_schedule(svc: Services, name: str) -> None:
    with svc.db.write() as conn:
        if not schedule_store.delete_schedule(conn, name):
            raise NotFound(f"no schedule named {name!r}")


# -- firing ---------------------------------------------------------------------------


def fire_due_schedules(svc: Services) -> int:
    """Fire every due tick of every active schedule; how many runs were created."""
    with svc.db.read() as conn:
        names = schedule_store.list_due(conn, svc.db.clock(conn))
    created = 0
    for name in names:
        try:
            created += _fire_schedule(svc, name)
        except HeadwaterError as exc:
            log.error("schedule %s: %s", name, exc)
    if created:
        svc.notify()
    return created


def seconds_until_next_tick(svc: Services) -> float | None:
    with svc.db.read() as conn:
        found = schedule_store.next_tick_at(conn)
        return None if found is None else max(0.0, found - svc.db.clock(conn))


def _fire_schedule(svc: Services, name: str) -> int:
    with svc.db.write() as conn:
        row = schedule_store.find_schedule(conn, name, lock=True)
        now = svc.db.clock(conn)
        if row is None or row.state != ACTIVE or row.next_tick_at is None:
            return 0  # another scheduler holds it, or it changed meanwhile
        if row.next_tick_at > now:
            return 0
        table = timetable_of(row)
        created = sum(_fire_tick(svc, conn, row, table, tick) for tick in _ticks_to_fire(row, now))
        schedule_store.set_progress(
            conn, name, checked_until=now, next_tick_at=table.next_after(now), now=now
        )
        return created


def _ticks_to_fire(row: ScheduleRow, now: float) -> list[float]:
    """The due ticks catch-up lets through. On time (fired within LATE_TICK_SECONDS of
    its time) always; missed ones: none (skip), the latest (latest), or up to
    max_catchup of the latest (all)."""
    table = timetable_of(row)
    if row.catchup == "all":
        return table.due_ticks(row.checked_until, now, row.max_catchup)
    on_time = table.due_ticks(max(row.checked_until, now - LATE_TICK_SECONDS), now, 10_000)
    if row.catchup == "latest" and not on_time:
        return table.due_ticks(row.checked_until, now, 1)
    return on_time


def _variables(name: str, table: Timetable, tick: float) -> dict[str, str]:
    return tick_variables(table.interval_start(tick), tick, table.timezone, schedule=name)


def _fire_tick(
    svc: Services, conn: Connection, row: ScheduleRow, table: Timetable, tick: float
) -> int:
    now = svc.db.clock(conn)
    if not schedule_store.insert_tick(conn, row.name, tick, now):
        return 0  # fired already by another scheduler
    variables = _variables(row.name, table, tick)
    request = run_request(row.pipeline, render(row.args, variables))
    origin = Origin(schedule=row.name, logical_date=table.interval_start(tick))
    try:
        run_id = create_run(svc, conn, request, origin=origin)
    except (ValidationError, NotFound) as exc:
        # Nothing of the run was written; the tick is spent and says why.
        log.error("schedule %s: tick %s made no run: %s", row.name, tick, exc)
        schedule_store.record_tick(conn, row.name, tick, run_id=None, error=str(exc))
        return 0
    schedule_store.record_tick(conn, row.name, tick, run_id=run_id, error=None)
    return 1
