"""Schedules and their ticks.

A tick is fired by inserting its (schedule, tick time) row in the transaction that
creates its run: the primary key lets only one scheduler do it, whatever happens to the
others. Schedulers also lock the schedule row they work on (SKIP LOCKED on PostgreSQL;
SQLite has one writer at a time), so they rarely even try the same tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import NotFound
from headwater.store.pipelines import insert_ignoring_conflicts
from headwater.store.tables import schedule_ticks, schedules

ACTIVE, PAUSED = "active", "paused"


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    pipeline: str
    cron: str | None
    interval_seconds: float | None
    timezone: str
    start_at: float | None
    end_at: float | None
    args: dict[str, Any]
    catchup: str
    max_catchup: int
    state: str
    origin: str
    description: str
    checked_until: float
    next_tick_at: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TickRow:
    schedule: str
    tick_at: float
    run_id: str | None
    error: str | None
    created_at: float


def _schedule(row: Any) -> ScheduleRow:
    values = row._asdict()
    values["args"] = json.loads(values["args"])
    return ScheduleRow(**values)


def insert_schedule(conn: Connection, **values: Any) -> bool:
    """Insert a schedule; False if one with its name exists."""
    values["args"] = json.dumps(values["args"])
    # RETURNING tells whether a row was inserted: the rowcount of an INSERT is not
    # reliable across drivers.
    statement = insert_ignoring_conflicts(conn.dialect.name, schedules, ["name"])
    return conn.execute(statement.values(**values).returning(schedules.c.name)).first() is not None


def update_definition(conn: Connection, name: str, **values: Any) -> None:
    """Change what a schedule does; its state (paused or not) and progress stay."""
    values["args"] = json.dumps(values["args"])
    conn.execute(schedules.update().where(schedules.c.name == name).values(**values))


def find_schedule(conn: Connection, name: str, *, lock: bool = False) -> ScheduleRow | None:
    """The schedule, or None. With `lock`, also None when another scheduler holds it."""
    query = sa.select(schedules).where(schedules.c.name == name)
    if lock:
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    return _schedule(row) if row is not None else None


def get_schedule(conn: Connection, name: str) -> ScheduleRow:
    found = find_schedule(conn, name)
    if found is None:
        raise NotFound(f"no schedule named {name!r}")
    return found


def list_schedules(conn: Connection, pipeline: str | None = None) -> list[ScheduleRow]:
    query = sa.select(schedules).order_by(schedules.c.name)
    if pipeline is not None:
        query = query.where(schedules.c.pipeline == pipeline)
    return [_schedule(r) for r in conn.execute(query)]


def delete_schedule(conn: Connection, name: str) -> bool:
    conn.execute(schedule_ticks.delete().where(schedule_ticks.c.schedule == name))
    return conn.execute(schedules.delete().where(schedules.c.name == name)).rowcount == 1


def set_progress(
    conn: Connection,
    name: str,
    *,
    checked_until: float,
    next_tick_at: float | None,
    now: float,
    state: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "checked_until": checked_until,
        "next_tick_at": next_tick_at,
        "updated_at": now,
    }
    if state is not None:
        values["state"] = state
    conn.execute(schedules.update().where(schedules.c.name == name).values(**values))


def list_due(conn: Connection, now: float, limit: int = 100) -> list[str]:
    query = (
        sa.select(schedules.c.name)
        .where(schedules.c.state == ACTIVE, schedules.c.next_tick_at <= now)
        .order_by(schedules.c.next_tick_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def next_tick_at(conn: Connection) -> float | None:
    """The earliest tick any active schedule waits for."""
    query = sa.select(sa.func.min(schedules.c.next_tick_at)).where(schedules.c.state == ACTIVE)
    value = conn.execute(query).scalar()
    return float(value) if value is not None else None


def insert_tick(conn: Connection, name: str, tick_at: float, now: float) -> bool:
    """Claim a tick for this transaction; False if it was fired already."""
    statement = insert_ignoring_conflicts(
        conn.dialect.name, schedule_ticks, ["schedule", "tick_at"]
    )
    statement = statement.values(schedule=name, tick_at=tick_at, created_at=now)
    return conn.execute(statement.returning(schedule_ticks.c.tick_at)).first() is not None


def record_tick(
    conn: Connection, name: str, tick_at: float, *, run_id: str | None, error: str | None
) -> None:
    conn.execute(
        schedule_ticks.update()
        .where(schedule_ticks.c.schedule == name, schedule_ticks.c.tick_at == tick_at)
        .values(run_id=run_id, error=error)
    )


def list_ticks(conn: Connection, name: str, limit: int = 20) -> list[TickRow]:
    query = (
        sa.select(schedule_ticks)
        .where(schedule_ticks.c.schedule == name)
        .order_by(schedule_ticks.c.tick_at.desc())
        .limit(limit)
    )
    return [TickRow(**r._asdict()) for r in conn.execute(query)]
