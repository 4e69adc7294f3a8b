"""Backfills: the backfill rows, and the gate that keeps at most N of its runs running.

A backfill's runs are created at once; the first `max_running` as running, the rest as
queued. Each transaction that ends one of its running runs starts the next queued one
(`start_next_queued`), so the backfill moves forward without anyone polling.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from headwater.domain.records import NamedTuple
from headwater.domain.states import RunState, TaskRunState, sources_of
from headwater.errors import NotFound
from headwater.store.outbox import enqueue_run_end

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class BackfillRow(NamedTuple):
    """A row of the backfills table."""

    id: str
    pipeline: str
    state: str  # running or cancelled as stored; see services.backfills for the view
    start: float
    end: float
    every: str
    timezone: str
    args: dict[str, Any]
    max_running: int
    total: int
    created_at: float
    ended_at: float | None


def _backfill(row: Any) -> BackfillRow:
    values = row._asdict()
    values["args"] = json.loads(values["args"])
    return BackfillRow(**values)


def insert_backfill(conn: Connection, **values: Any) -> None:
    from headwater.store.tables import backfills

    values["args"] = json.dumps(values["args"])
    conn.execute(backfills.insert().values(**values))


def get_backfill(conn: Connection, backfill_id: str) -> BackfillRow:
    import sqlalchemy as sa

    from headwater.store.tables import backfills

    row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)).first()
    if row is None:
        raise NotFound(f"no backfill {backfill_id!r}")
    return _backfill(row)


def list_backfills(conn: Connection, limit: int = 50) -> list[BackfillRow]:
    import sqlalchemy as sa

    from headwater.store.tables import backfills

    query = sa.select(backfills).order_by(backfills.c.created_at.desc()).limit(limit)
    return [_backfill(r) for r in conn.execute(query)]


def mark_cancelled(conn: Connection, backfill_id: str, now: float) -> bool:
    from headwater.store.tables import backfills

    result = conn.execute(
        backfills.update()
        .where(backfills.c.id == backfill_id, backfills.c.state == "running")
        .values(state="cancelled", ended_at=now)
    )
    return result.rowcount == 1


def count_run_states(conn: Connection, backfill_id: str) -> dict[str, int]:
    import sqlalchemy as sa

    from headwater.store.tables import runs

    query = (
        sa.select(runs.c.state, sa.func.count())
        .where(runs.c.backfill_id == backfill_id)
        .group_by(runs.c.state)
    )
    return {state: int(n) for state, n in conn.execute(query)}


def mark_running(conn: Connection, run_ids: list[str]) -> None:
    """Move queued runs to running (a new backfill's first ones)."""
    from headwater.store.tables import runs

    if run_ids:
        conn.execute(
            runs.update()
            .where(runs.c.id.in_(run_ids), runs.c.state == RunState.QUEUED.value)
            .values(state=RunState.RUNNING.value)
        )


def start_next_queued(conn: Connection, backfill_id: str) -> str | None:
    """Move the backfill's earliest queued run to running; its id, or None if none is
    left. On PostgreSQL, two runs ending at once skip each other's pick (SKIP LOCKED)
    instead of both taking the same queued run."""
    import sqlalchemy as sa

    from headwater.store.tables import runs

    pick = (
        sa.select(runs.c.id)
        .where(runs.c.backfill_id == backfill_id, runs.c.state == RunState.QUEUED.value)
        .order_by(runs.c.logical_date, runs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    run_id = conn.execute(pick).scalar()
    if run_id is None:
        return None
    moved = conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.state.in_(sources_of(RunState.RUNNING)))
        .values(state=RunState.RUNNING.value)
    )
    return str(run_id) if moved.rowcount == 1 else None


def cancel_queued_runs(conn: Connection, backfill_id: str, now: float) -> int:
    """Cancel the backfill's queued runs (none of their task runs was ever ready)."""
    import sqlalchemy as sa

    from headwater.store.tables import runs, task_runs

    queued = sa.select(runs.c.id).where(
        runs.c.backfill_id == backfill_id, runs.c.state == RunState.QUEUED.value
    )
    target = TaskRunState.CANCELLED
    conn.execute(
        task_runs.update()
        .where(task_runs.c.run_id.in_(queued), task_runs.c.state.in_(sources_of(target)))
        .values(state=target.value, ended_at=now)
    )
    ended = conn.execute(
        runs.update()
        .where(runs.c.backfill_id == backfill_id, runs.c.state == RunState.QUEUED.value)
        .values(state=RunState.CANCELLED.value, ended_at=now, remaining=0)
        .returning(runs.c.id, runs.c.pipeline)
    ).all()
    # Like every run that ends (store.runs.finish_run): tell the notifications.
    for run_id, pipeline in ended:
        enqueue_run_end(conn, run_id, pipeline, RunState.CANCELLED.value, now)
    return len(ended)


def list_run_ids(conn: Connection, backfill_id: str, states: tuple[RunState, ...]) -> list[str]:
    import sqlalchemy as sa

    from headwater.store.tables import runs

    query = sa.select(runs.c.id).where(
        runs.c.backfill_id == backfill_id, runs.c.state.in_([s.value for s in states])
    )
    return list(conn.execute(query).scalars())
