"""Runs, task runs and attempts: inserts, reads and state-guarded updates.

Every state change is an UPDATE guarded by `state IN sources_of(target)`, so the
transition table in `headwater.domain.states` is enforced by the database itself and
a concurrent writer that lost the race changes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from headwater.domain.records import NamedTuple
from headwater.domain.states import AttemptState, RunState, TaskRunState, sources_of
from headwater.errors import Conflict, NotFound
from headwater.store.outbox import enqueue_run_end
from headwater.store.sql import (
    Sql,
    dialect_of,
    execute,
    execute_counts,
    execute_many,
    execute_rows,
    id_list,
    is_unique_violation,
)

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection


class RunRow(NamedTuple):
    """A row of the runs table."""

    id: str
    pipeline: str
    version_id: int
    state: RunState
    args: dict[str, Any]
    task_args: dict[str, dict[str, Any]]
    force: bool
    resumed_from: str | None
    priority: int
    tags: list[str]
    remaining: int
    created_at: float
    ended_at: float | None
    start_at: float | None = None
    expires_at: float | None = None
    schedule: str | None = None
    backfill_id: str | None = None
    logical_date: float | None = None


class TaskRunRow(NamedTuple):
    """A row of the task_runs table."""

    id: int
    run_id: str
    node_id: str
    map_index: int
    task: str
    state: TaskRunState
    queue: str
    is_map_parent: bool
    waiting_on: int
    attempts: int
    max_attempts: int
    cache_key: str | None
    args: str | None
    output: str | None
    error: str | None
    started_at: float | None
    ended_at: float | None
    # The output (and any files) was committed to the artifact store; if false, a small
    # output lives only in `output` (see services/outputs).
    artifact: bool = False

    @property
    def label(self) -> str:
        return self.node_id if self.map_index < 0 else f"{self.node_id}[{self.map_index}]"


class AttemptRow(NamedTuple):
    """A row of the attempts table."""

    id: int
    task_run_id: int
    run_id: str
    number: int
    state: AttemptState
    worker_id: str | None
    started_at: float
    ended_at: float | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    log_label: str | None


@functools.cache
def _tr_cols() -> list[sa.ColumnElement[Any]]:
    from headwater.store.tables import task_runs

    return [task_runs.c[name] for name in TaskRunRow._fields]


@functools.cache
def _run_cols() -> list[sa.ColumnElement[Any]]:
    from headwater.store.tables import runs

    return [runs.c[name] for name in RunRow._fields]


# The hot statements (every claim, result and step of a run) are hand-written SQL run on
# the driver's cursor: see headwater.store.sql for why.
_RUN_FIELDS = ", ".join(RunRow._fields)
_TR_FIELDS = ", ".join(TaskRunRow._fields)
_TR_STATE, _TR_MAP_PARENT, _TR_ARTIFACT = (
    TaskRunRow._fields.index(name) for name in ("state", "is_map_parent", "artifact")
)
_ATTEMPT_FIELDS = ", ".join(AttemptRow._fields)
_NODES_IN = ("node_id IN (SELECT value FROM json_each(:b_nodes))", "node_id = ANY(:b_nodes)")
# One node on SQLite (every step of a chain): `=`. SQLite updates the rows of a list
# (json_each, or even a list of literals) in two passes, collecting their ids first,
# which costs ~40 µs more per statement; a key's equality updates in one pass.
_ONE_NODE = ("node_id = :b_node", "node_id = ANY(:b_nodes)")
# A state condition beside a row's key: SQLite's planner would otherwise pick the
# (run_id, state) index for `run_id = ... AND node_id IN (...) AND state IN (...)` and
# scan every pending task run of the run (0.36 ms per step of a 1,000-task chain);
# unary + keeps the value and leaves that index out.
_STATE = ("+state", "state")


def _two(template: str, nodes_in: tuple[str, str] = _NODES_IN) -> Sql:
    """A statement that differs by dialect: `{nodes_in}` (a list of node ids) and
    `{state}` (the state column in a condition that must not choose the index)."""
    pairs = zip(nodes_in, _STATE, strict=True)
    return Sql(*(template.format(nodes_in=nodes, state=state) for nodes, state in pairs))


def _on_nodes(template: str) -> tuple[Sql, Sql]:
    """A statement on a list of node ids `{nodes_in}`: (for a list, for one node on
    SQLite); `_nodes` chooses and gives the parameter."""
    return _two(template), _two(template, _ONE_NODE)


def _nodes(conn: Connection, node_ids: Sequence[str]) -> tuple[bool, dict[str, Any]]:
    """Whether the one-node form of an `_on_nodes` statement applies; its parameter."""
    if len(node_ids) == 1 and dialect_of(conn) == "sqlite":
        return True, {"b_node": node_ids[0]}
    return False, {"b_nodes": id_list(conn, list(node_ids))}


def _states(targets: Iterable[Any]) -> str:
    return ", ".join(f"'{s.value}'" for s in targets)


_GET_RUN = Sql(f"SELECT {_RUN_FIELDS} FROM runs WHERE id = :b_run")
_ADD_REMAINING = Sql(
    "UPDATE runs SET remaining = remaining + :b_delta WHERE id = :b_run RETURNING remaining"
)
_NODE_TASK_RUNS = _on_nodes(
    f"SELECT {_TR_FIELDS} FROM task_runs WHERE run_id = :b_run AND {{nodes_in}} AND map_index = -1"
)
# An output column left unread: `output` is OUTPUT_NOT_READ where the row has one (JSON is
# never empty), so a 10,000-element list is not copied out again for each of its elements.
OUTPUT_NOT_READ = ""
_TR_FIELDS_NO_OUTPUT = ", ".join(
    "CASE WHEN output IS NULL THEN NULL ELSE '' END AS output" if name == "output" else name
    for name in TaskRunRow._fields
)
_NODE_TASK_RUNS_NO_OUTPUT = _on_nodes(
    f"SELECT {_TR_FIELDS_NO_OUTPUT} FROM task_runs"
    " WHERE run_id = :b_run AND {nodes_in} AND map_index = -1"
)
_TASK_RUN_OUTPUT = Sql("SELECT output FROM task_runs WHERE id = :b_id")
_MAP_CHILDREN = Sql(
    f"SELECT {_TR_FIELDS} FROM task_runs"
    " WHERE run_id = :b_run AND node_id = :b_node AND map_index >= 0 ORDER BY map_index"
)
_DECREMENT_WAITING = _on_nodes(
    "UPDATE task_runs SET waiting_on = waiting_on - :b_by"
    " WHERE run_id = :b_run AND {nodes_in} AND map_index = :b_index"
    " RETURNING node_id, waiting_on, state"
)
_SET_LOG_LABEL = Sql(
    "UPDATE attempts SET log_label = :log_label WHERE id = :b_id AND state = 'running'"
)
_SET_CACHE_KEY = Sql("UPDATE task_runs SET cache_key = :cache_key WHERE id = :b_id")
# The newest success with the key, by the (cache_key, id) index; the pipeline and task
# are checked too, as the artifact prefix (pipeline/task/key) would. Newest, because a
# forced run replaces what the cache gives for its key, as it replaces an artifact.
_CACHED_OUTPUT = Sql(
    "SELECT task_runs.output, task_runs.args, task_runs.artifact FROM task_runs"
    " JOIN runs ON runs.id = task_runs.run_id"
    " WHERE task_runs.cache_key = :b_key AND task_runs.task = :b_task"
    " AND runs.pipeline = :b_pipeline AND task_runs.state IN ('succeeded', 'cached')"
    " AND NOT task_runs.is_map_parent ORDER BY task_runs.id DESC LIMIT 1"
)
_LIST_TASK_RUNS = Sql(f"SELECT {_TR_FIELDS} FROM task_runs WHERE run_id = :b_run ORDER BY id")
_LIST_ATTEMPTS = Sql(f"SELECT {_ATTEMPT_FIELDS} FROM attempts WHERE run_id = :b_run ORDER BY id")


@functools.lru_cache(maxsize=256)
def _update_sql(
    table: str,
    where: str,
    target: Any,
    keys: tuple[str, ...],
    tail: str = "",
    nodes_in: tuple[str, str] = _NODES_IN,
) -> Sql:
    """`UPDATE table SET state = :state, <keys> WHERE <where> AND state IN (sources)`,
    built once per shape (the set of columns a caller writes)."""
    sets = ", ".join(f"{k} = :{k}" for k in ("state", *keys))
    return _two(
        f"UPDATE {table} SET {sets} WHERE {where}"
        f" AND {{state}} IN ({_states(sources_of(target))}){tail}",
        nodes_in,
    )


# PostgreSQL: many rows, each with values of its own, in one UPDATE. The rows are locked
# first in id order (the order one update a row would take them; see record_results),
# each only while it is still in a source state of `target`; the values come as one array
# per column. Columns not named here are text.
_ARRAY_TYPES = {
    "ended_at": "float8",
    "started_at": "float8",
    "available_at": "float8",
    "artifact": "boolean",
    "waiting_on": "integer",
}


@functools.lru_cache(maxsize=256)
def _update_rows_sql(table: str, target: Any, keys: tuple[str, ...]) -> Sql:
    arrays = "".join(f", CAST(:v_{k} AS {_ARRAY_TYPES.get(k, 'text')}[])" for k in keys)
    sets = ", ".join(["state = :state", *(f"{k} = v.{k}" for k in keys)])
    return Sql(
        "SELECT 1",  # SQLite updates row by row (`_update_rows`)
        f"WITH locked AS MATERIALIZED (SELECT id FROM {table} WHERE id = ANY(:b_ids)"
        f" AND state IN ({_states(sources_of(target))}) ORDER BY id FOR UPDATE),"
        f" v AS (SELECT * FROM unnest(CAST(:b_ids AS integer[]){arrays})"
        f" AS v (id, {', '.join(keys)}))"
        f" UPDATE {table} SET {sets} FROM locked JOIN v ON v.id = locked.id"
        f" WHERE {table}.id = locked.id RETURNING {table}.id",
    )


def _update_rows(
    conn: Connection, table: str, changes: Sequence[tuple[int, Any, dict[str, Any]]]
) -> set[int]:
    """Update rows by id, each (id, target state, values of plain data), each only if it
    is in a source state of its target; the ids updated. In id order; on PostgreSQL one
    statement per shape (target and columns), on SQLite one per row (no round trips
    there)."""
    updated: set[int] = set()
    postgresql = dialect_of(conn) == "postgresql"
    for (target, keys), rows in _by_shape(changes).items():
        if postgresql:
            params = {f"v_{k}": [row[k] for row in rows] for k in keys}
            params.update(b_ids=[row["b_id"] for row in rows], state=target.value)
            stmt = _update_rows_sql(table, target, keys)
            updated.update(row_id for (row_id,) in execute(conn, stmt, params))
        else:  # by the count of rows each changed: RETURNING costs SQLite ~15 µs a row
            stmt = _update_sql(table, "id = :b_id", target, keys)
            counts = execute_counts(conn, stmt, rows)
            updated.update(row["b_id"] for row, count in zip(rows, counts, strict=True) if count)
    return updated


_is_plain_types = (str, int, float, type(None))


def _is_plain(values: dict[str, Any]) -> bool:
    """True when every value is data (not an SQL expression), so a prebuilt statement
    can take them as parameters."""
    return all(isinstance(v, _is_plain_types) for v in values.values())


@functools.cache
def _find_by_keys() -> Any:
    import sqlalchemy as sa

    from headwater.store.tables import runs

    return sa.select(runs.c.idempotency_key, runs.c.id, runs.c.request_hash).where(
        runs.c.idempotency_key.in_(sa.bindparam("b_keys", expanding=True))
    )


def _run(row: Sequence[Any]) -> RunRow:
    """A run from a row of its columns in RunRow's field order (_run_cols, _RUN_FIELDS)."""
    (id_, pipeline, version_id, state, args, task_args, force, *rest) = row
    return RunRow(
        id_,
        pipeline,
        version_id,
        RunState(state),
        json.loads(args),
        json.loads(task_args),
        bool(force),
        rest[0],
        rest[1],
        json.loads(rest[2]),
        *rest[3:],
    )


def _task_run(row: Sequence[Any]) -> TaskRunRow:
    """A task run from a row of its columns in TaskRunRow's field order."""
    values = list(row)
    values[_TR_STATE] = TaskRunState(values[_TR_STATE])
    values[_TR_MAP_PARENT] = bool(values[_TR_MAP_PARENT])  # 0/1 on SQLite
    values[_TR_ARTIFACT] = bool(values[_TR_ARTIFACT])
    return TaskRunRow(*values)


def _attempt(row: Sequence[Any]) -> AttemptRow:
    """An attempt from a row of its columns in AttemptRow's field order."""
    (id_, task_run_id, run_id, number, state, *rest) = row
    return AttemptRow(id_, task_run_id, run_id, number, AttemptState(state), *rest)


# -- runs ---------------------------------------------------------------------------


class DuplicateIdempotencyKey(Conflict):
    """Another run was started with this idempotency key at the same moment."""


def insert_run(conn: Connection, **values: Any) -> None:
    import sqlalchemy as sa

    from headwater.store.tables import runs

    values.setdefault("state", RunState.RUNNING.value)
    for key in ("args", "task_args", "tags"):
        values[key] = json.dumps(values[key])
    try:
        # Values as parameters (not .values()): one compiled statement serves every call.
        conn.execute(runs.insert(), values)
    except sa.exc.IntegrityError as exc:
        if values.get("idempotency_key") is None:
            raise
        raise DuplicateIdempotencyKey() from exc


def insert_runs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many runs in one executemany (a backfill); every row gives the same keys."""
    from headwater.store.tables import runs

    if not rows:
        return
    encoded = [
        {**row, **{key: json.dumps(row[key]) for key in ("args", "task_args", "tags")}}
        for row in rows
    ]
    conn.execute(runs.insert(), encoded)


# A new run's row and its task runs' rows, for `insert_new_runs`: tuples in this order.
NEW_RUN_COLUMNS = (
    "id",
    "pipeline",
    "version_id",
    "state",
    "args",
    "task_args",
    "force",
    "resumed_from",
    "priority",
    "tags",
    "remaining",
    "created_at",
    "idempotency_key",
    "request_hash",
    "start_at",
    "expires_at",
    "schedule",
    "backfill_id",
    "logical_date",
)
NEW_TASK_RUN_COLUMNS = (
    "run_id",
    "node_id",
    "map_index",
    "task",
    "state",
    "queue",
    "priority",
    "available_at",
    "waiting_on",
    "is_map_parent",
    "max_attempts",
    "created_at",
    "limit_keys",
)


@functools.cache
def _insert_sql(dialect: str, table: str, columns: tuple[str, ...]) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def insert_new_runs(
    conn: Connection, run_rows: Sequence[tuple[Any, ...]], task_run_rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert new runs and their task runs: two statements however many runs (the group
    commit of triggers). Rows are tuples in NEW_RUN_COLUMNS and NEW_TASK_RUN_COLUMNS
    order, JSON already encoded; the SQL is written out and goes to the driver as is,
    without SQLAlchemy's compiling and per-row parameter processing."""
    if not run_rows:
        return
    dialect = conn.dialect.name
    try:
        execute_rows(conn, _insert_sql(dialect, "runs", NEW_RUN_COLUMNS), run_rows)
    except Exception as exc:
        if not is_unique_violation(exc) or all(
            row[NEW_RUN_COLUMNS.index("idempotency_key")] is None for row in run_rows
        ):
            raise
        raise DuplicateIdempotencyKey() from exc
    if task_run_rows:
        sql = _insert_sql(dialect, "task_runs", NEW_TASK_RUN_COLUMNS)
        execute_rows(conn, sql, task_run_rows)


def find_runs_by_keys(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
    """{idempotency key: (run id, request hash)} of the runs started with these keys."""
    return {
        row.idempotency_key: (row.id, row.request_hash)
        for row in conn.execute(_find_by_keys(), {"b_keys": list(keys)})
    }


def find_run_by_key(conn: Connection, idempotency_key: str) -> tuple[str, str] | None:
    """(run id, request hash) of the run started with this key, if any."""
    import sqlalchemy as sa

    from headwater.store.tables import runs

    row = conn.execute(
        sa.select(runs.c.id, runs.c.request_hash).where(runs.c.idempotency_key == idempotency_key)
    ).first()
    return (row.id, row.request_hash) if row is not None else None


def get_run(conn: Connection, run_id: str) -> RunRow:
    row = execute(conn, _GET_RUN, {"b_run": run_id}).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return _run(row)


def list_runs(
    conn: Connection,
    pipeline: str | None = None,
    limit: int = 50,
    *,
    state: str | None = None,
    tag: str | None = None,
    created_after: float | None = None,
    created_before: float | None = None,
    before_id: str | None = None,
) -> list[RunRow]:
    """Newest first. `before_id` continues a listing after that run (a cursor): run ids
    sort by creation time, so (created_at, id) is a total, stable order."""
    import sqlalchemy as sa

    from headwater.store.tables import runs

    query = (
        sa.select(*_run_cols()).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
    )
    if pipeline:
        query = query.where(runs.c.pipeline == pipeline)
    if state:
        query = query.where(runs.c.state == state)
    if tag:
        # Tags are a JSON list of strings: match the quoted tag as a whole element.
        query = query.where(runs.c.tags.contains(json.dumps(tag)))
    if created_after is not None:
        query = query.where(runs.c.created_at >= created_after)
    if created_before is not None:
        query = query.where(runs.c.created_at < created_before)
    if before_id is not None:
        cursor = sa.select(runs.c.created_at).where(runs.c.id == before_id).scalar_subquery()
        query = query.where(
            sa.or_(
                runs.c.created_at < cursor,
                sa.and_(runs.c.created_at == cursor, runs.c.id < before_id),
            )
        )
    return [_run(r) for r in conn.execute(query)]


def add_remaining(conn: Connection, run_id: str, delta: int) -> int:
    (remaining,) = execute(conn, _ADD_REMAINING, {"b_run": run_id, "b_delta": delta}).fetchone()
    return int(remaining)


def finish_run(conn: Connection, run_id: str, target: RunState, now: float) -> bool:
    """Give the run its final state; False if it had ended already. The same
    transaction writes the outbox rows of the notifications that want to hear of this
    end, so they exist exactly when the final state is committed, whoever ended it."""
    params = {"b_run": run_id, "state": target.value, "ended_at": now}
    stmt = _update_sql("runs", "id = :b_run", target, ("ended_at",), " RETURNING pipeline")
    ended = execute(conn, stmt, params).fetchone()
    if ended is None:
        return False
    enqueue_run_end(conn, run_id, ended[0], target.value, now)
    return True


# -- task runs ----------------------------------------------------------------------


def insert_task_runs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, which may give different columns (the rest take their defaults).

    An executemany INSERT takes its column list from the first row, so rows are sent in
    groups of one shape; otherwise a later row's extra values would be dropped."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in shapes.items():
        execute_many(conn, _insert_task_runs_sql(columns), group)


# What the children of a map node are given (the rest: their index, and defaults).
_MAP_CHILD_COLUMNS = tuple(
    c for c in NEW_TASK_RUN_COLUMNS if c not in ("map_index", "is_map_parent")
)
_INSERT_MAP_CHILDREN = Sql(
    f"INSERT INTO task_runs ({', '.join(_MAP_CHILD_COLUMNS)}, map_index)"
    f" SELECT {', '.join(':' + c for c in _MAP_CHILD_COLUMNS)}, g"
    " FROM generate_series(0, :b_count - 1) AS g"
)


def insert_map_children(conn: Connection, count: int, values: dict[str, Any]) -> None:
    """Insert the `count` children of a map node (map_index 0 to count - 1), alike but
    for their index, with `values` (the keys of _MAP_CHILD_COLUMNS). On PostgreSQL one
    statement makes them all (not one executed per row); on SQLite, where an
    executemany costs no round trips, one executemany."""
    if dialect_of(conn) == "postgresql":
        execute(conn, _INSERT_MAP_CHILDREN, {**values, "b_count": count})
    else:
        insert_task_runs(conn, [{**values, "map_index": index} for index in range(count)])


@functools.lru_cache(maxsize=64)
def _insert_task_runs_sql(columns: tuple[str, ...]) -> Sql:
    """`INSERT INTO task_runs` of these columns (names from this code, never from input)."""
    values = ", ".join(f":{c}" for c in columns)
    return Sql(f"INSERT INTO task_runs ({', '.join(columns)}) VALUES ({values})")


def list_task_runs(conn: Connection, run_id: str) -> list[TaskRunRow]:
    return [_task_run(r) for r in execute(conn, _LIST_TASK_RUNS, {"b_run": run_id})]


def node_task_runs(
    conn: Connection, run_id: str, node_ids: Iterable[str], *, outputs: bool = True
) -> list[TaskRunRow]:
    """The node-level rows (not map children) of `node_ids` in a run; with
    `outputs=False` their `output` is OUTPUT_NOT_READ where they have one."""
    node_ids = list(node_ids)
    one, params = _nodes(conn, node_ids)
    stmt = (_NODE_TASK_RUNS if outputs else _NODE_TASK_RUNS_NO_OUTPUT)[one]
    params["b_run"] = run_id
    return [_task_run(r) for r in execute(conn, stmt, params)]


def task_run_output(conn: Connection, task_run_id: int) -> str | None:
    row = execute(conn, _TASK_RUN_OUTPUT, {"b_id": task_run_id}).fetchone()
    return None if row is None else row[0]


def map_children(conn: Connection, run_id: str, node_id: str) -> list[TaskRunRow]:
    params = {"b_run": run_id, "b_node": node_id}
    return [_task_run(r) for r in execute(conn, _MAP_CHILDREN, params)]


def transition_task_run(
    conn: Connection, task_run_id: int, target: TaskRunState, **values: Any
) -> bool:
    if _is_plain(values):
        stmt = _update_sql("task_runs", "id = :b_id", target, tuple(sorted(values)))
        params = {"b_id": task_run_id, "state": target.value, **values}
        return int(execute(conn, stmt, params).rowcount) == 1
    from headwater.store.tables import task_runs

    result = conn.execute(
        task_runs.update()
        .where(task_runs.c.id == task_run_id, task_runs.c.state.in_(sources_of(target)))
        .values(state=target.value, **values)
    )
    return result.rowcount == 1


def transition_task_runs(
    conn: Connection, moves: Sequence[tuple[int, TaskRunState, dict[str, Any]]]
) -> set[int]:
    """Move task runs, each (id, target, values of plain data), in id order and on
    PostgreSQL in one statement; the ids that moved."""
    return _update_rows(conn, "task_runs", moves)


def _by_shape(
    changes: Sequence[tuple[int, Any, dict[str, Any]]],
) -> dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]]:
    """Changes grouped by target state and the columns they write (one statement each)."""
    groups: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
    for row_id, target, values in changes:
        assert _is_plain(values)
        shape = (target, tuple(sorted(values)))
        groups.setdefault(shape, []).append({"b_id": row_id, "state": target.value, **values})
    return groups


def transition_nodes(
    conn: Connection, run_id: str, node_ids: Sequence[str], target: TaskRunState, **values: Any
) -> list[str]:
    """Move node-level rows of `node_ids` to `target`; the nodes that moved."""
    if not node_ids:
        return []
    assert _is_plain(values)
    one, params = _nodes(conn, node_ids)
    stmt = _update_sql(
        "task_runs",
        "run_id = :b_run AND {nodes_in} AND map_index = -1",
        target,
        tuple(sorted(values)),
        " RETURNING node_id",
        _ONE_NODE if one else _NODES_IN,
    )
    params.update(values, b_run=run_id, state=target.value)
    return [node_id for (node_id,) in execute(conn, stmt, params)]


def decrement_waiting(
    conn: Connection, run_id: str, node_ids: Sequence[str], map_index: int = -1, by: int = 1
) -> list[tuple[str, int, str]]:
    """`by` upstreams (or map elements) of each node finished: (node, still waiting on,
    state) per node."""
    if not node_ids:
        return []
    one, params = _nodes(conn, node_ids)
    params.update(b_run=run_id, b_index=map_index, b_by=by)
    return [tuple(row) for row in execute(conn, _DECREMENT_WAITING[one], params)]


def cancel_open_task_runs(conn: Connection, run_id: str, now: Any) -> int:
    """Cancel every task run of the run that has not ended; how many were cancelled."""
    from headwater.store.tables import task_runs

    target = TaskRunState.CANCELLED
    result = conn.execute(
        task_runs.update()
        .where(task_runs.c.run_id == run_id, task_runs.c.state.in_(sources_of(target)))
        .values(state=target.value, ended_at=now)
    )
    return int(result.rowcount)


def any_task_run_in(conn: Connection, run_id: str, states: Iterable[TaskRunState]) -> bool:
    stmt = _any_task_run_in_sql(frozenset(states))
    return execute(conn, stmt, {"b_run": run_id}).fetchone() is not None


@functools.cache
def _any_task_run_in_sql(states: frozenset[TaskRunState]) -> Sql:
    listed = _states(sorted(states, key=lambda s: s.value)) or "NULL"
    return Sql(f"SELECT id FROM task_runs WHERE run_id = :b_run AND state IN ({listed}) LIMIT 1")


# -- attempts -----------------------------------------------------------------------


def list_attempts(conn: Connection, run_id: str) -> list[AttemptRow]:
    return [_attempt(r) for r in execute(conn, _LIST_ATTEMPTS, {"b_run": run_id})]


def finish_attempt(
    conn: Connection, attempt_id: int, target: AttemptState, now: Any, **values: Any
) -> bool:
    """End a running attempt. False if it was not running (its lease was lost or the
    run was cancelled): the fencing that refuses a stale result."""
    values = {"ended_at": now, **values}
    if _is_plain(values):
        stmt = _update_sql("attempts", "id = :b_id", target, tuple(sorted(values)))
        params = {"b_id": attempt_id, "state": target.value, **values}
        return int(execute(conn, stmt, params).rowcount) == 1
    from headwater.store.tables import attempts

    values["state"] = target.value
    result = conn.execute(
        attempts.update()
        .where(attempts.c.id == attempt_id, attempts.c.state.in_(sources_of(target)))
        .values(**values)
    )
    return result.rowcount == 1


_LOCK_IN_ID_ORDER = {
    table: Sql("SELECT 1", f"SELECT id FROM {table} WHERE id = ANY(:b_ids) ORDER BY id FOR UPDATE")
    for table in ("attempts", "task_runs")
}


def lock_in_id_order(conn: Connection, table: str, ids: Sequence[int]) -> None:
    """PostgreSQL: lock these rows of `attempts` or `task_runs`, in id order. SQLite has
    one writer and no row locks: nothing to do."""
    if ids and dialect_of(conn) == "postgresql":
        execute(conn, _LOCK_IN_ID_ORDER[table], {"b_ids": sorted(ids)})


def finish_attempts(
    conn: Connection, ends: Sequence[tuple[int, AttemptState, dict[str, Any]]], now: float
) -> set[int]:
    """End running attempts, each (id, target, values of plain data), in id order and
    on PostgreSQL in one statement; the ids that ended. An id missing from the answer
    was no longer running: its result is refused (see `finish_attempt`)."""
    changes = [(i, target, {"ended_at": now, **values}) for i, target, values in ends]
    return _update_rows(conn, "attempts", changes)


def set_log_location(
    conn: Connection, attempt_id: int, task_run_id: int, log_label: str, cache_key: str
) -> bool:
    """Say where a running attempt writes its logs (the task run's cache key names the
    folder), so they can be read while it runs. False if it is no longer running."""
    result = execute(conn, _SET_LOG_LABEL, {"b_id": attempt_id, "log_label": log_label})
    if result.rowcount != 1:
        return False
    execute(conn, _SET_CACHE_KEY, {"b_id": task_run_id, "cache_key": cache_key})
    return True


def cached_output(
    conn: Connection, pipeline: str, task: str, cache_key: str
) -> tuple[str, str | None] | None:
    """(output JSON, arguments JSON) of the newest success of `task` in `pipeline` with
    this cache key if its output is kept in the database; None if there is none, or if
    that success was committed to the artifact store (look there)."""
    params = {"b_key": cache_key, "b_task": task, "b_pipeline": pipeline}
    row = execute(conn, _CACHED_OUTPUT, params).fetchone()
    if row is None or row[2] or row[0] is None:
        return None
    return row[0], row[1]


def end_running_attempts(conn: Connection, run_id: str, target: AttemptState, now: Any) -> int:
    from headwater.store.tables import attempts

    result = conn.execute(
        attempts.update()
        .where(attempts.c.run_id == run_id, attempts.c.state.in_(sources_of(target)))
        .values(state=target.value, ended_at=now)
    )
    return int(result.rowcount)


def count_states(conn: Connection, run_id: str) -> dict[str, int]:
    """How many task runs of the run are in each state (map parents left out)."""
    import sqlalchemy as sa

    from headwater.store.tables import task_runs

    query = (
        sa.select(task_runs.c.state, sa.func.count())
        .where(task_runs.c.run_id == run_id, task_runs.c.is_map_parent == sa.false())
        .group_by(task_runs.c.state)
    )
    return {state: int(n) for state, n in conn.execute(query)}


def running_labels(conn: Connection, run_id: str, limit: int) -> list[str]:
    import sqlalchemy as sa

    from headwater.store.tables import task_runs

    query = (
        sa.select(task_runs.c.node_id, task_runs.c.map_index)
        .where(
            task_runs.c.run_id == run_id,
            # A literal, not a parameter: PostgreSQL's generic plan for a parameter walked
            # every task run in id order (the run's rows are found by the unique index).
            task_runs.c.state == sa.literal_column(f"'{TaskRunState.RUNNING.value}'"),
            task_runs.c.is_map_parent == sa.false(),
        )
        .order_by(task_runs.c.id)
        .limit(limit)
    )
    return [node if index < 0 else f"{node}[{index}]" for node, index in conn.execute(query)]


def cancel_open_children(conn: Connection, run_id: str, node_id: str, now: Any) -> int:
    """Cancel the unfinished map children of a node; how many were cancelled."""
    from headwater.store.tables import task_runs

    target = TaskRunState.CANCELLED
    result = conn.execute(
        task_runs.update()
        .where(
            task_runs.c.run_id == run_id,
            task_runs.c.node_id == node_id,
            task_runs.c.map_index >= 0,
            task_runs.c.state.in_(sources_of(target)),
        )
        .values(state=target.value, ended_at=now)
    )
    return int(result.rowcount)


def end_task_run_attempts(
    conn: Connection, task_run_ids: Sequence[int], target: AttemptState, now: Any
) -> int:
    from headwater.store.tables import attempts

    result = conn.execute(
        attempts.update()
        .where(
            attempts.c.task_run_id.in_(list(task_run_ids)), attempts.c.state.in_(sources_of(target))
        )
        .values(state=target.value, ended_at=now)
    )
    return int(result.rowcount)
