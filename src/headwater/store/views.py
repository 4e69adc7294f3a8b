"""Read-only queries for screens (the web UI, live run events): lean rows, few columns.

Nothing here writes. The queries read only the columns a screen shows, so polling a run
of thousands of task runs (for live updates) stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.states import TaskRunState
from headwater.store.tables import attempts, runs, task_runs


@dataclass(frozen=True)
class TaskRunProgress:
    """What changes while a run runs: state, attempt count, start and end."""

    id: int
    node: str
    map_index: int
    state: str
    attempts: int
    started_at: float | None
    ended_at: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "node": self.node,
            "map_index": self.map_index,
            "state": self.state,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True)
class LastRun:
    id: str
    state: str
    created_at: float
    ended_at: float | None


_STATES = (
    sa.select(
        task_runs.c.id,
        task_runs.c.node_id,
        task_runs.c.map_index,
        task_runs.c.state,
        task_runs.c.attempts,
        task_runs.c.started_at,
        task_runs.c.ended_at,
    )
    .where(task_runs.c.run_id == sa.bindparam("b_run"))
    .order_by(task_runs.c.id)
)


def list_task_run_states(conn: Connection, run_id: str) -> list[TaskRunProgress]:
    return [TaskRunProgress(*row) for row in conn.execute(_STATES, {"b_run": run_id})]


@dataclass(frozen=True)
class AttemptSpan:
    task_run_id: int
    number: int
    state: str
    started_at: float
    ended_at: float | None


_SPANS = (
    sa.select(
        attempts.c.task_run_id,
        attempts.c.number,
        attempts.c.state,
        attempts.c.started_at,
        attempts.c.ended_at,
    )
    .where(attempts.c.run_id == sa.bindparam("b_run"))
    .order_by(attempts.c.id)
)


def list_attempt_spans(conn: Connection, run_id: str) -> list[AttemptSpan]:
    """When each attempt of a run ran (for a timeline): no errors, no tracebacks."""
    return [AttemptSpan(*row) for row in conn.execute(_SPANS, {"b_run": run_id})]


def find_run_state(conn: Connection, run_id: str) -> tuple[str, float | None] | None:
    row = conn.execute(sa.select(runs.c.state, runs.c.ended_at).where(runs.c.id == run_id)).first()
    return (row.state, row.ended_at) if row is not None else None


def last_runs(conn: Connection) -> dict[str, LastRun]:
    """The newest run of every pipeline that has one."""
    newest = (
        sa.select(runs.c.pipeline, sa.func.max(runs.c.created_at).label("at"))
        .group_by(runs.c.pipeline)
        .subquery()
    )
    query = (
        sa.select(runs.c.pipeline, runs.c.id, runs.c.state, runs.c.created_at, runs.c.ended_at)
        .join(
            newest, sa.and_(newest.c.pipeline == runs.c.pipeline, newest.c.at == runs.c.created_at)
        )
        .order_by(runs.c.id)
    )
    return {
        row.pipeline: LastRun(row.id, row.state, row.created_at, row.ended_at)
        for row in conn.execute(query)
    }


def ready_ahead(conn: Connection, queue: str, priority: int, task_run_id: int, now: float) -> int:
    """Claimable task runs on `queue` that a worker takes before this one (claim order is
    priority first, then age)."""
    query = sa.select(sa.func.count()).where(
        task_runs.c.queue == queue,
        task_runs.c.state == TaskRunState.READY.value,
        task_runs.c.available_at <= now,
        sa.or_(
            task_runs.c.priority > priority,
            sa.and_(task_runs.c.priority == priority, task_runs.c.id < task_run_id),
        ),
    )
    return int(conn.execute(query).scalar_one())


def task_run_schedule(conn: Connection, task_run_id: int) -> tuple[int, float, str] | None:
    """(priority, available_at, limit keys JSON) of a task run: what decides its claim."""
    row = conn.execute(
        sa.select(task_runs.c.priority, task_runs.c.available_at, task_runs.c.limit_keys).where(
            task_runs.c.id == task_run_id
        )
    ).first()
    return (row.priority, row.available_at, row.limit_keys) if row is not None else None


def find_run_of_task_run(conn: Connection, task_run_id: int) -> str | None:
    return conn.execute(
        sa.select(task_runs.c.run_id).where(task_runs.c.id == task_run_id)
    ).scalar_one_or_none()
