"""Counts for operators: queue depths, runs by state, attempt durations, lease reaps.

Read from the tables rather than counted in memory, so every API process reports the
same numbers for the whole fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.states import AttemptState, TaskRunState
from headwater.store.tables import attempts, runs, task_runs, workers


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int  # task runs waiting to be claimed (some may wait out a retry backoff)
    running: int
    oldest_ready_age_seconds: float | None  # how long the longest-waiting one has waited


@dataclass(frozen=True)
class Durations:
    """A cumulative histogram of ended attempts' durations, for one end state."""

    state: str
    bucket_counts: list[int]  # attempts lasting at most each bound, same order as bounds
    count: int
    total_seconds: float


def queue_stats(conn: Connection, now: float) -> list[QueueStats]:
    ready, running = TaskRunState.READY.value, TaskRunState.RUNNING.value
    query = (
        sa.select(
            task_runs.c.queue,
            task_runs.c.state,
            sa.func.count(),
            sa.func.min(task_runs.c.available_at),
        )
        .where(task_runs.c.state.in_([ready, running]), task_runs.c.is_map_parent == sa.false())
        .group_by(task_runs.c.queue, task_runs.c.state)
    )
    found: dict[str, dict[str, tuple[int, float]]] = {}
    for queue, state, count, oldest in conn.execute(query):
        found.setdefault(queue, {})[state] = (int(count), float(oldest))
    return [
        QueueStats(
            queue,
            by_state.get(ready, (0, 0.0))[0],
            by_state.get(running, (0, 0.0))[0],
            max(0.0, now - by_state[ready][1]) if ready in by_state else None,
        )
        for queue, by_state in sorted(found.items())
    ]


def runs_by_state(conn: Connection) -> dict[str, int]:
    query = sa.select(runs.c.state, sa.func.count()).group_by(runs.c.state)
    return {state: int(n) for state, n in conn.execute(query)}


def workers_by_state(conn: Connection) -> dict[str, int]:
    query = sa.select(workers.c.state, sa.func.count()).group_by(workers.c.state)
    return {state: int(n) for state, n in conn.execute(query)}


def lease_reaps(conn: Connection) -> int:
    """Attempts ended because their worker stopped renewing the lease."""
    query = sa.select(sa.func.count()).where(attempts.c.state == AttemptState.LOST.value)
    return int(conn.execute(query).scalar_one())


def attempt_durations(conn: Connection, bounds: Sequence[float]) -> list[Durations]:
    """Durations of ended attempts by end state, counted into buckets at `bounds`."""
    duration = attempts.c.ended_at - attempts.c.started_at
    columns = [
        sa.func.sum(sa.case((duration <= bound, 1), else_=0)).label(f"le_{i}")
        for i, bound in enumerate(bounds)
    ]
    query = (
        sa.select(attempts.c.state, sa.func.count(), sa.func.sum(duration), *columns)
        .where(attempts.c.ended_at.is_not(None))
        .group_by(attempts.c.state)
    )
    return [
        Durations(row[0], [int(n or 0) for n in row[3:]], int(row[1]), float(row[2] or 0.0))
        for row in conn.execute(query)
    ]
