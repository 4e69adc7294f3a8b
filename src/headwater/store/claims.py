"""Claiming ready task runs with a lease, renewing leases, and the two dialects' ways.

A claim moves task runs from ready to running and creates one attempt for each, with
`lease_until` read from the database clock. The attempt id is the fencing token: a
result or heartbeat names it, and is refused once the attempt is no longer running.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.domain.records import NamedTuple
from headwater.domain.states import AttemptState, TaskRunState
from headwater.store import limits as limit_store
from headwater.store.engine import Database, transaction_notes
from headwater.store.sql import NOW, Sql, execute, execute_counts, id_list

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class Claim(NamedTuple):
    """A claimed attempt, with what a worker needs to run it."""

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
def _candidates(dialect: str, now_sql: str, by_queue: bool, by_run: bool) -> Any:
    """With concurrency limits: the first ready task runs and their limit keys, to be
    checked against free slots before any is marked running (built once per shape)."""
    import sqlalchemy as sa

    from headwater.store.tables import task_runs

    now: Any = sa.literal_column(now_sql)
    # The state is a literal so that PostgreSQL's generic plan can use the partial
    # indexes of ready task runs (a parameter cannot match their WHERE).
    ready = sa.select(task_runs.c.id).where(
        task_runs.c.state == sa.literal_column(f"'{TaskRunState.READY.value}'"),
        task_runs.c.available_at <= now,
    )
    if by_queue:
        ready = ready.where(task_runs.c.queue.in_(sa.bindparam("b_queues", expanding=True)))
    if by_run:
        ready = ready.where(task_runs.c.run_id == sa.bindparam("b_run"))
    ready = ready.order_by(task_runs.c.priority.desc(), task_runs.c.id)
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
    return candidates


_RETURNED = "id, run_id, node_id, map_index, task, attempts, max_attempts, priority"
# _RETURNED's columns read before the mark (the attempt number is the count after it)
_CHOSEN = "id, run_id, node_id, map_index, task, attempts + 1, max_attempts, priority"
# Marking claimed rows running (`{now}`: the clock); `_MARK` those of `{ids}` still ready.
_MARK_SET = (
    "UPDATE task_runs SET state = 'running', attempts = attempts + 1,"
    " started_at = coalesce(started_at, {now})"
)
_MARK = _MARK_SET + " WHERE id {ids} AND state = 'ready'"
_MARK_IDS = Sql(
    _MARK.format(now=":b_now", ids="IN (SELECT value FROM json_each(:b_ids))")
    + f" RETURNING {_RETURNED}",
    _MARK.format(now=NOW["postgresql"], ids="= ANY(:b_ids)") + f" RETURNING {_RETURNED}",
)
_MARK_EACH = Sql(_MARK.format(now=":b_now", ids="= :b_id"))  # SQLite, a row at a time


@functools.lru_cache(maxsize=16)
def _claim_sql(by_queue: bool, by_run: bool) -> Sql:
    """Take up to :b_limit ready task runs, highest priority then oldest. PostgreSQL
    in one statement, locking the chosen rows and skipping those other claimers hold,
    so they never wait on each other nor take the same row; the UPDATE is conditional on
    the row still being ready. SQLite reads them (its writer holds the write lock
    already: BEGIN IMMEDIATE), then marks them (_MARK_EACH)."""

    where = ["state = 'ready'", "available_at <= {now}"]
    # PostgreSQL: nothing while any concurrency limit exists (`claim` then takes the
    # path that checks them).
    pg_where = [*where, "NOT EXISTS (SELECT 1 FROM limits)"]
    if by_queue:
        where.append("queue IN {queues}")
    if by_run:
        where.append("run_id = :b_run")
    pg_where += where[2:]
    # SQLite (which holds the write lock already): the rows are read, then marked one by
    # one (_MARK_EACH), each by its key: an UPDATE of the rows of a subquery collects
    # them first, which cost a chain's step ~180 µs more than this for one row, and as
    # much as this for 64.
    ready, pg_ready = (
        f"SELECT {columns} FROM task_runs WHERE {' AND '.join(conditions)}"
        " ORDER BY priority DESC, id LIMIT :b_limit"
        for columns, conditions in ((_CHOSEN, where), ("id", pg_where))
    )
    sqlite = ready.format(now=":b_now", queues="(SELECT value FROM json_each(:b_queues))")
    # PostgreSQL: the chosen rows are locked, having been seen ready (a row another
    # transaction changed meanwhile is checked again before it is locked), so they are
    # still ready. The UPDATE finds them by primary key: joined to the chosen rows, or
    # with its own `state = 'ready'`, the planner of a table whose statistics predate its
    # ready rows (a new database, a map just expanded) scanned every ready row instead.
    postgresql = (
        f"WITH chosen AS ({pg_ready} FOR UPDATE SKIP LOCKED) "
        + f"{_MARK_SET} WHERE id = ANY(ARRAY(SELECT id FROM chosen)) RETURNING {_RETURNED}"
    ).format(now=NOW["postgresql"], queues="(SELECT unnest(CAST(:b_queues AS text[])))")
    return Sql(sqlite, postgresql)


@functools.lru_cache(maxsize=64)
def _insert_attempts_sql(count: int) -> Sql:
    row = (
        "(:t{i}, :r{i}, :n{i}, 'running', :b_worker, :b_executor, :b_batch,"
        " {now} + :b_lease, {now})"
    )
    insert = (
        "INSERT INTO attempts"
        " (task_run_id, run_id, number, state, worker_id, executor, batch, lease_until,"
        " started_at)"
        " VALUES {values} RETURNING id, task_run_id, lease_until"
    )
    sqlite = insert.format(values=", ".join(row.format(i=i, now=":b_now") for i in range(count)))
    return Sql(sqlite)


# PostgreSQL: the rows' values as three arrays, one statement whatever the count (a
# statement with three parameters a row was converted by psycopg anew each time, past
# its cache's 50 parameters, and prepared on the server once per count).
_INSERT_ATTEMPTS_PG = Sql(
    "SELECT 1",
    "INSERT INTO attempts"
    " (task_run_id, run_id, number, state, worker_id, executor, batch, lease_until,"
    " started_at)"
    f" SELECT t, r, n, 'running', :b_worker, :b_executor, :b_batch, {NOW['postgresql']}"
    f" + :b_lease, {NOW['postgresql']}"
    " FROM unnest(CAST(:b_task_runs AS integer[]), CAST(:b_runs AS text[]),"
    " CAST(:b_numbers AS integer[])) AS rows (t, r, n)"
    " RETURNING id, task_run_id, lease_until",
)


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
    batch: bool = False,
) -> list[Claim]:
    """Claim up to `limit` ready task runs, highest priority then oldest first, each
    within the concurrency limits of its keys."""
    if limit <= 0:
        return []
    # SQLite's clock is this machine's (Database.clock); PostgreSQL's is read in the SQL.
    now = db.clock(conn) if db.dialect == "sqlite" else None
    params: dict[str, Any] = {"b_limit": limit, "b_now": now}
    if queues:
        params["b_queues"] = id_list(conn, list(queues))
    if run_id is not None:
        params["b_run"] = run_id
    claim_sql = _claim_sql(bool(queues), run_id is not None)
    rows: list[Any] = []
    if db.dialect == "postgresql":
        # There the claim statement takes nothing while any limit exists; limits are
        # looked up only when it took nothing, so a busy worker pays one statement.
        rows = execute(conn, claim_sql, params).fetchall()
    limited = limit_store.limited_keys(conn) if not rows else set()
    slots: dict[int, list[tuple[str, int]]] = {}
    taker = limit_store.SlotTaker(db, conn, limited)
    if limited:
        candidates = _candidates(db.dialect, str(db.now()), bool(queues), run_id is not None)
        sa_params = {**params, "b_lookahead": limit * 4 + LIMIT_LOOKAHEAD}
        if queues:
            sa_params["b_queues"] = list(queues)
        ids = _within_limits(conn, candidates, sa_params, limit, taker, slots)
        if not ids:
            return []
        rows = execute(conn, _MARK_IDS, {"b_now": now, "b_ids": id_list(conn, ids)}).fetchall()
    elif db.dialect == "sqlite":
        rows = execute(conn, claim_sql, params).fetchall()
        marks = [{"b_now": now, "b_id": row[0]} for row in rows]
        # A row is claimed only if this marked it. Inside the write transaction a claim
        # runs in, nothing else can have taken it meanwhile; should a caller ever claim
        # outside one, a row another process took is left out, not claimed twice.
        marked = execute_counts(conn, _MARK_EACH, marks)
        rows = [row for row, count in zip(rows, marked, strict=True) if count]
    if not rows:
        return []
    # RETURNING gives no order: hand claims back in claim order (priority, then age).
    claimed = sorted(rows, key=lambda r: (-r[7], r[0]))
    values: dict[str, Any] = {
        "b_worker": worker_id,
        "b_executor": executor,
        # To run one after another in one thread: one id for the lot (see the reaper).
        "b_batch": os.urandom(16).hex() if batch and len(claimed) > 1 else None,
        "b_lease": lease_seconds,
        "b_now": now,
    }
    if db.dialect == "postgresql":
        insert = _INSERT_ATTEMPTS_PG
        values["b_task_runs"] = [row[0] for row in claimed]
        values["b_runs"] = [row[1] for row in claimed]
        values["b_numbers"] = [row[5] for row in claimed]
    else:
        insert = _insert_attempts_sql(len(claimed))
        for i, row in enumerate(claimed):
            values[f"t{i}"], values[f"r{i}"], values[f"n{i}"] = row[0], row[1], row[5]
    made = {
        task_run_id: (attempt_id, lease_until)
        for attempt_id, task_run_id, lease_until in execute(conn, insert, values)
    }
    result = []
    for task_run_id, run, node_id, map_index, task, number, max_attempts, _ in claimed:
        attempt_id, lease_until = made[task_run_id]
        taker.assign(slots.get(task_run_id, []), attempt_id)
        result.append(
            Claim(
                attempt_id,
                task_run_id,
                run,
                node_id,
                map_index,
                task,
                number,
                max_attempts,
                lease_until,
            )
        )
    return result


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


_RENEW = (
    "UPDATE attempts SET lease_until = {now} + :b_lease"
    " WHERE id {ids} AND state = 'running' RETURNING id"
)
# PostgreSQL: a lease whose attempt another transaction holds (a batch being recorded,
# a reaper ending it) is skipped, not waited for; it counts as live if it was running
# when the statement began (the final SELECT reads that snapshot, not the UPDATE's
# result), so a heartbeat never waits behind a batch's transaction nor calls its
# attempts lost. One that is being reaped shows as lost at the next heartbeat.
_RENEW_SQL = Sql(
    _RENEW.format(now=":b_now", ids="IN (SELECT value FROM json_each(:b_ids))"),
    "WITH free AS (SELECT id FROM attempts WHERE id = ANY(:b_ids) AND state = 'running'"
    " FOR UPDATE SKIP LOCKED),"
    f" renewed AS (UPDATE attempts SET lease_until = {NOW['postgresql']} + :b_lease"
    " FROM free WHERE attempts.id = free.id RETURNING attempts.id)"
    " SELECT id FROM attempts WHERE id = ANY(:b_ids) AND state = 'running'",
)


def renew_leases(
    db: Database, conn: Connection, attempt_ids: Sequence[int], lease_seconds: float
) -> set[int]:
    """Extend the leases of `attempt_ids` in one statement; the ids still live.
    An id missing from the answer was lost or cancelled: its worker must stop it."""
    if not attempt_ids:
        return set()
    # SQLite's clock is this machine's (Database.clock), as when the lease was taken.
    now = db.clock(conn) if db.dialect == "sqlite" else None
    params = {"b_ids": id_list(conn, list(attempt_ids)), "b_lease": lease_seconds, "b_now": now}
    return {attempt_id for (attempt_id,) in execute(conn, _RENEW_SQL, params)}


def expired_attempts(db: Database, conn: Connection, limit: int) -> list[tuple[Claim, str | None]]:
    """Running attempts whose lease has passed (by the database clock), locked so that
    reapers in other processes skip them (PostgreSQL) or wait their turn (SQLite); each
    with its batch id, if it was claimed in a batch of quick attempts."""
    import sqlalchemy as sa

    from headwater.store.tables import attempts, task_runs

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
            attempts.c.batch,
        )
        .join(task_runs, task_runs.c.id == attempts.c.task_run_id)
        .where(attempts.c.state == AttemptState.RUNNING.value, attempts.c.lease_until < db.now())
        .order_by(attempts.c.lease_until)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=attempts)
    return [
        (
            Claim(row[0], row[3], row[4], row[5], row[6], row[7], row[1], row[8], row[2]),
            row[9],
        )
        for row in conn.execute(query)
    ]


def release_for_retry(conn: Connection, task_run_id: int) -> None:
    """A released attempt does not count against the task's retries."""
    from headwater.store.tables import task_runs

    conn.execute(
        task_runs.update()
        .where(task_runs.c.id == task_run_id)
        .values(max_attempts=task_runs.c.max_attempts + 1)
    )


READY_CHANNEL = "headwater_ready"


def made_ready(conn: Connection) -> int:
    """How many task runs this transaction made ready (so in-process workers wake)."""
    return int(transaction_notes(conn).get("ready", 0))


_NOTIFY = Sql("SELECT 1", f"SELECT pg_notify('{READY_CHANNEL}', '')")


def notify_ready(db: Database, conn: Connection, count: int = 1) -> None:
    """Wake idle workers: on PostgreSQL a NOTIFY (once per transaction), delivered when
    this transaction commits (never before the work is visible). SQLite has no such
    thing; its workers are woken in-process (Services.notify, after the commit: see
    `made_ready`) or poll."""
    notes = transaction_notes(conn)
    first = "ready" not in notes
    notes["ready"] = notes.get("ready", 0) + count
    if first and db.dialect == "postgresql":
        execute(conn, _NOTIFY)
