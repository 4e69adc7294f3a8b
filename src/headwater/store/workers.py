"""The workers table: who is working, where, since when, and whether still alive."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater.domain.records import NamedTuple
from headwater.store.sql import NOW, Sql, execute

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


RUNNING, STOPPING, STOPPED, DEAD = "running", "stopping", "stopped", "dead"


class WorkerRow(NamedTuple):
    """A row of the workers table."""

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


# A worker registers, beats and stops in every `headwater run`: hand-written statements
# on the driver (see headwater.store.sql).
_REGISTER = Sql(
    "INSERT INTO workers"
    " (id, host, pid, queues, concurrency, state, started_at, heartbeat_at, running)"
    " VALUES (:id, :host, :pid, :queues, :concurrency, :state, :now, :now, 0)"
)
_BEAT = (
    "UPDATE workers SET heartbeat_at = {now}, running = :running,"
    " state = CASE WHEN state = 'dead' THEN 'running' ELSE state END"
    " WHERE id = :id AND state IN ('running', 'stopping', 'dead')"
)
_BEAT_SQL = Sql(_BEAT.format(now=NOW["sqlite"]), _BEAT.format(now=NOW["postgresql"]))
_SET_STATE = Sql("UPDATE workers SET state = :state WHERE id = :id")
_SET_STOPPED = Sql(
    "UPDATE workers SET state = :state, stopped_at = :now, running = 0 WHERE id = :id"
)


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
    params = {
        "id": worker_id,
        "host": host,
        "pid": pid,
        "queues": json.dumps(list(queues)),
        "concurrency": concurrency,
        "state": RUNNING,
        "now": now,
    }
    execute(conn, _REGISTER, params)


def beat(conn: Connection, worker_id: str, running: int) -> None:
    """Record a heartbeat, at the database's clock; a worker once marked dead comes back
    to life if it beats."""
    execute(conn, _BEAT_SQL, {"id": worker_id, "running": running})


def set_state(conn: Connection, worker_id: str, state: str, now: float) -> None:
    stopped = state == STOPPED
    params = {"id": worker_id, "state": state, "now": now}
    execute(conn, _SET_STOPPED if stopped else _SET_STATE, params)


def mark_dead(conn: Connection, silent_since: float, now: float) -> int:
    """Workers with no heartbeat since `silent_since` are dead; how many were marked."""
    from headwater.store.tables import workers

    result = conn.execute(
        workers.update()
        .where(workers.c.state.in_([RUNNING, STOPPING]), workers.c.heartbeat_at < silent_since)
        .values(state=DEAD, stopped_at=now)
    )
    return int(result.rowcount)


def list_workers(conn: Connection, include_stopped: bool = False) -> list[WorkerRow]:
    import sqlalchemy as sa

    from headwater.store.tables import workers

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
