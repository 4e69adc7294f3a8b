"""The workers table: who is working, where, since when, and whether still alive."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.tables import workers

RUNNING, STOPPING, STOPPED, DEAD = "running", "stopping", "stopped", "dead"


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    state: str
    started_at: float
    heartbeat_at: float
    running: int
    stopped_at: float | None


def register(
    conn: Connection,
    *,
    worker_id: str,
    host: str,
    pid: int,
    queues: Sequence[str],
    concurrency: int,
    now: float,
) -> None:
    conn.execute(
        workers.insert().values(
            id=worker_id,
            host=host,
            pid=pid,
            queues=json.dumps(list(queues)),
            concurrency=concurrency,
            state=RUNNING,
            started_at=now,
            heartbeat_at=now,
            running=0,
        )
    )


def beat(conn: Connection, worker_id: str, running: int, now: Any) -> None:
    """Record a heartbeat; a worker once marked dead comes back to life if it beats."""
    conn.execute(
        workers.update()
        .where(workers.c.id == worker_id, workers.c.state.in_([RUNNING, STOPPING, DEAD]))
        .values(
            heartbeat_at=now,
            running=running,
            state=sa.case((workers.c.state == DEAD, RUNNING), else_=workers.c.state),
        )
    )


def set_state(conn: Connection, worker_id: str, state: str, now: float) -> None:
    values: dict[str, Any] = {"state": state}
    if state == STOPPED:
        values |= {"stopped_at": now, "running": 0}
    conn.execute(workers.update().where(workers.c.id == worker_id).values(**values))


def mark_dead(conn: Connection, silent_since: float, now: float) -> int:
    """Workers with no heartbeat since `silent_since` are dead; how many were marked."""
    result = conn.execute(
        workers.update()
        .where(workers.c.state.in_([RUNNING, STOPPING]), workers.c.heartbeat_at < silent_since)
        .values(state=DEAD, stopped_at=now)
    )
    return int(result.rowcount)


def list_workers(conn: Connection, include_stopped: bool = False) -> list[WorkerRow]:
    query = sa.select(workers).order_by(workers.c.started_at.desc())
    if not include_stopped:
        query = query.where(workers.c.state != STOPPED)
    return [
        WorkerRow(
            r.id,
            r.host,
            r.pid,
            json.loads(r.queues),
            r.concurrency,
            r.state,
            r.started_at,
            r.heartbeat_at,
            r.running,
            r.stopped_at,
        )
        for r in conn.execute(query)
    ]
