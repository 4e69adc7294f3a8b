"""Claiming ready task runs with a lease, renewing leases, and the two dialects' ways.

A claim moves task runs from ready to running and creates one attempt for each, with
`lease_until` read from the database clock. The attempt id is the fencing token: a
result or heartbeat names it, and is refused once the attempt is no longer running.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.states import AttemptState, TaskRunState
from headwater.store import limits as limit_store
from headwater.store.engine import Database, transaction_notes
from headwater.store.tables import attempts, task_runs


@dataclass(frozen=True)
class Claim:
    attempt_id: int
    task_run_id: int
    run_id: str
    node_id: str
    map_index: int
    task: str
    number: int
    max_attempts: int
    lease_until: float


@functools.lru_cache(maxsize=16)
def _statements(dialect: str, now_sql: str, by_queue: bool, by_run: bool) -> dict[str, Any]:
    """The claim's statements for one shape of claim, built once (see store.runs)."""
    now: Any = sa.literal_column(now_sql)
    ready = sa.select(task_runs.c.id).where(
        task_runs.c.state == TaskRunState.READY.value, task_runs.c.available_at <= now
    )
    if by_queue:
        ready = ready.where(task_runs.c.queue.in_(sa.bindparam("b_queues", expanding=True)))
    if by_run:
        ready = ready.where(task_runs.c.run_id == sa.bindparam("b_run"))
    ready = ready.order_by(task_runs.c.priority.desc(), task_runs.c.id)
    first = ready.limit(sa.bindparam("b_limit", type_=sa.Integer))
    if dialect == "postgresql":
        # Lock the chosen rows, skipping rows other workers hold, so concurrent claimers
        # never wait on each other nor take the same row; then update those ids.
        chosen: Any = sa.bindparam("b_ids", expanding=True)
        lock = first.with_for_update(skip_locked=True)
    else:
        # SQLite: one writer at a time (BEGIN IMMEDIATE); the conditional UPDATE's own
        # subquery picks the rows.
        chosen, lock = first.scalar_subquery(), None

    def mark_running(ids: Any) -> Any:
        # Conditional on still being ready: the guard that makes a lost race a no-op.
        return (
            task_runs.update()
            .where(task_runs.c.id.in_(ids), task_runs.c.state == TaskRunState.READY.value)
            .values(
                state=TaskRunState.RUNNING.value,
                attempts=task_runs.c.attempts + 1,
                started_at=sa.func.coalesce(task_runs.c.started_at, now),
            )
            .returning(
                task_runs.c.id,
                task_runs.c.run_id,
                task_runs.c.node_id,
                task_runs.c.map_index,
                task_runs.c.task,
                task_runs.c.attempts,
                task_runs.c.max_attempts,
                task_runs.c.priority,
            )
        )

    mark = mark_running(chosen)
    mark_ids = mark_running(sa.bindparam("b_ids", expanding=True))
    candidates = (
        sa.select(task_runs.c.id, task_runs.c.limit_keys)
        .where(
            task_runs.c.id.in_(
                ready.limit(sa.bindparam("b_lookahead", type_=sa.Integer)).scalar_subquery()
            )
        )
        .order_by(task_runs.c.priority.desc(), task_runs.c.id)
    )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    insert = (
        attempts.insert()
        .values(lease_until=now + sa.bindparam("b_lease", type_=sa.Float), started_at=now)
        .returning(attempts.c.id, attempts.c.lease_until, sort_by_parameter_order=True)
    )
    return {
        "lock": lock,
        "mark": mark,
        "mark_ids": mark_ids,
        "candidates": candidates,
        "insert": insert,
    }


def claim(
    db: Database,
    conn: Connection,
    *,
    worker_id: str,
    limit: int,
    queues: Sequence[str] | None,
    run_id: str | None,
    lease_seconds: float,
    executor: str | None = None,
) -> list[Claim]:
    """Claim up to `limit` ready task runs, highest priority then oldest first, each
    within the concurrency limits of its keys."""
    if limit <= 0:
        return []
    stmts = _statements(db.dialect, str(db.now()), bool(queues), run_id is not None)
    params: dict[str, Any] = {"b_limit": limit, "b_lookahead": limit * 4 + LIMIT_LOOKAHEAD}
    if queues:
        params["b_queues"] = list(queues)
    if run_id is not None:
        params["b_run"] = run_id
    limited = limit_store.limited_keys(conn)
    slots: dict[int, list[tuple[str, int]]] = {}
    taker = limit_store.SlotTaker(db, conn, limited)
    if limited:
        ids = _within_limits(conn, stmts["candidates"], params, limit, taker, slots)
        result = conn.execute(stmts["mark_ids"], {**params, "b_ids": ids}) if ids else None
    elif stmts["lock"] is not None:
        ids = list(conn.execute(stmts["lock"], params).scalars())
        result = conn.execute(stmts["mark"], {**params, "b_ids": ids}) if ids else None
    else:
        result = conn.execute(stmts["mark"], params)
    # RETURNING gives no order: hand claims back in claim order (priority, then age).
    claimed = sorted(result.all(), key=lambda r: (-r.priority, r.id)) if result else []
    if not claimed:
        return []
    rows = conn.execute(
        stmts["insert"],
        [
            {
                "task_run_id": row.id,
                "run_id": row.run_id,
                "number": row.attempts,
                "state": AttemptState.RUNNING.value,
                "worker_id": worker_id,
                "executor": executor,
                "b_lease": lease_seconds,
            }
            for row in claimed
        ],
    ).all()
    for attempt, row in zip(rows, claimed, strict=True):
        taker.assign(slots.get(row.id, []), attempt.id)
    return [
        Claim(
            attempt.id,
            row.id,
            row.run_id,
            row.node_id,
            row.map_index,
            row.task,
            row.attempts,
            row.max_attempts,
            attempt.lease_until,
        )
        for attempt, row in zip(rows, claimed, strict=True)
    ]


LIMIT_LOOKAHEAD = 50  # ready rows examined beyond `limit` when some keys are limited


def _within_limits(
    conn: Connection,
    candidates: Any,
    params: dict[str, Any],
    limit: int,
    taker: limit_store.SlotTaker,
    slots: dict[int, list[tuple[str, int]]],
) -> list[int]:
    """The first ready task runs (up to `limit`) that can take a slot for every limited
    key; the slots they take are recorded in `slots`. Runs blocked by a full limit are
    passed over, so work under other keys is not held up behind them."""
    chosen: list[int] = []
    for task_run_id, keys in conn.execute(candidates, params):
        got = taker.take_all(keys)
        if got is None:
            continue
        slots[task_run_id] = got
        chosen.append(task_run_id)
        if len(chosen) == limit:
            break
    return chosen


def renew_leases(
    db: Database, conn: Connection, attempt_ids: Sequence[int], lease_seconds: float
) -> set[int]:
    """Extend the leases of `attempt_ids` in one statement; the ids still live.
    An id missing from the answer was lost or cancelled: its worker must stop it."""
    if not attempt_ids:
        return set()
    result = conn.execute(
        attempts.update()
        .where(attempts.c.id.in_(list(attempt_ids)), attempts.c.state == AttemptState.RUNNING.value)
        .values(lease_until=db.now() + lease_seconds)
        .returning(attempts.c.id)
    )
    return set(result.scalars())


def expired_attempts(db: Database, conn: Connection, limit: int) -> list[Claim]:
    """Running attempts whose lease has passed (by the database clock), locked so that
    reapers in other processes skip them (PostgreSQL) or wait their turn (SQLite)."""
    query = (
        sa.select(
            attempts.c.id,
            attempts.c.number,
            attempts.c.lease_until,
            task_runs.c.id,
            task_runs.c.run_id,
            task_runs.c.node_id,
            task_runs.c.map_index,
            task_runs.c.task,
            task_runs.c.max_attempts,
        )
        .join(task_runs, task_runs.c.id == attempts.c.task_run_id)
        .where(attempts.c.state == AttemptState.RUNNING.value, attempts.c.lease_until < db.now())
        .order_by(attempts.c.lease_until)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=attempts)
    return [
        Claim(row[0], row[3], row[4], row[5], row[6], row[7], row[1], row[8], row[2])
        for row in conn.execute(query)
    ]


def release_for_retry(conn: Connection, task_run_id: int) -> None:
    """A released attempt does not count against the task's retries."""
    conn.execute(
        task_runs.update()
        .where(task_runs.c.id == task_run_id)
        .values(max_attempts=task_runs.c.max_attempts + 1)
    )


READY_CHANNEL = "headwater_ready"


def made_ready(conn: Connection) -> bool:
    """Whether this transaction made work ready (so in-process workers should wake)."""
    return bool(transaction_notes(conn).get("ready"))


def notify_ready(db: Database, conn: Connection) -> None:
    """Wake idle workers: on PostgreSQL a NOTIFY, delivered when this transaction commits
    (never before the work is visible). SQLite has no such thing; its workers are woken
    in-process (Services.notify, after the commit: see `made_ready`) or poll."""
    transaction_notes(conn)["ready"] = True
    if db.dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": READY_CHANNEL})
