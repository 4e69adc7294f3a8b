"""Starting and cancelling runs, and reading them back."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from headwater.domain.canonical import sha256_hex
from headwater.domain.problems import Problem
from headwater.domain.records import NamedTuple
from headwater.domain.spec import PipelineSpec
from headwater.domain.states import TASK_RUN_OK, AttemptState, RunState, TaskRunState
from headwater.errors import Contended, NotFound, PipelineDisabled, ValidationError
from headwater.services.arguments import validate_run_args
from headwater.services.context import Services
from headwater.services.plans import Plan
from headwater.services.progress import advance, start_next_queued
from headwater.store import pipelines as pipeline_store
from headwater.store import runs as run_store
from headwater.store.pipelines import PipelineRow
from headwater.store.runs import AttemptRow, RunRow, TaskRunRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

T = TypeVar("T")


def new_run_id() -> str:
    """32 hex digits that sort by creation time (a UUIDv7 layout)."""
    millis = int(time.time() * 1000)
    return f"{millis:012x}{os.urandom(10).hex()}"[:32]


def register_pipeline(svc: Services, spec: PipelineSpec, origin: str = "code") -> int:
    """Store `spec` as its pipeline's current version (a no-op if unchanged)."""
    with svc.db.write() as conn:
        return pipeline_store.save_version(conn, spec, origin, svc.db.clock(conn))


class StartControls(NamedTuple):
    """When a run may start and until when: not before `start_at` (or `start_in` seconds
    from now, by the database clock), and it ends as expired if it has not started by
    `expires_at`. Times are seconds since the epoch."""

    start_at: float | None = None
    start_in: float | None = None
    expires_at: float | None = None

    def as_request(self) -> dict[str, float]:
        return {k: v for k, v in self._asdict().items() if v is not None}


class Origin(NamedTuple):
    """What created a run, besides a caller: a schedule's tick or a backfill."""

    schedule: str | None = None
    backfill_id: str | None = None
    logical_date: float | None = None


def start_run(
    svc: Services,
    pipeline: str,
    args: Mapping[str, Any] | None = None,
    *,
    task_args: Mapping[str, Mapping[str, Any]] | None = None,
    force: bool = False,
    resume_from: str | None = None,
    priority: int = 0,
    tags: Sequence[str] = (),
    idempotency_key: str | None = None,
    controls: StartControls = StartControls(),
) -> str:
    """Create a run of the pipeline's current version and make its first task runs ready.

    Arguments are validated before anything is written: on a ValidationError the
    database is unchanged. With an `idempotency_key`, the same key and the same request
    give back the run already started; the same key with another request is a Conflict.
    """
    request = (
        run_request(
            pipeline,
            args,
            task_args,
            force=force,
            resume_from=resume_from,
            priority=priority,
            tags=tags,
        )
        | controls.as_request()
    )
    # Handed to the process's run writer, which creates the runs of concurrent callers
    # in one transaction (group commit) and wakes in-process workers once per batch.
    from headwater.services.run_batches import run_writer

    return run_writer(svc).start(request, idempotency_key)


def run_request(
    pipeline: str,
    args: Mapping[str, Any] | None = None,
    task_args: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    force: bool = False,
    resume_from: str | None = None,
    priority: int = 0,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """A request to start a run, as plain data (its hash identifies it)."""
    return {
        "pipeline": pipeline,
        "args": dict(args or {}),
        "task_args": {k: dict(v) for k, v in (task_args or {}).items()},
        "force": force,
        "resume_from": resume_from,
        "priority": priority,
        "tags": list(tags),
    }


class PreparedRun(NamedTuple):
    """A run request checked against the database, ready to be written."""

    plan: Plan
    now: float
    start_at: float | None
    expires_at: float | None
    # A resumed run's source: its succeeded nodes (with their map children), reused.
    reused: dict[str, tuple[TaskRunRow, list[TaskRunRow]]]


def prepare_run(
    svc: Services,
    conn: Connection,
    request: Mapping[str, Any],
    now: float,
    pipelines: dict[str, PipelineRow] | None = None,
) -> PreparedRun:
    """Check a run request without writing anything: the pipeline exists and is enabled,
    the arguments and start controls are valid, a run to resume from exists.
    `pipelines` keeps the pipelines looked up in this transaction (a batch of runs
    mostly starts one pipeline)."""
    name = request["pipeline"]
    row = pipelines.get(name) if pipelines is not None else None
    if row is None:
        row = pipeline_store.get_pipeline(conn, name)
        if pipelines is not None:
            pipelines[name] = row
    if not row.enabled:
        raise PipelineDisabled(f"pipeline {name} is disabled: it starts no new runs")
    assert row.current_version_id is not None
    plan = svc.plans.get(conn, row.current_version_id)
    problems = validate_run_args(plan, request["args"], request["task_args"])
    if problems:
        raise ValidationError(problems, f"invalid arguments for pipeline {name}")
    start_at, expires_at = _start_window(request, now)
    resume_from = request.get("resume_from")
    reused = _reused_rows(conn, resume_from) if resume_from else {}
    return PreparedRun(plan, now, start_at, expires_at, reused)


def create_run(
    svc: Services,
    conn: Connection,
    request: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    origin: Origin = Origin(),
) -> str:
    """Create a run inside the caller's transaction (a sensor records the file that
    started it, a schedule its tick, in the same one). Everything is validated before
    the first write, so a ValidationError or NotFound leaves the caller's transaction as
    it was. The caller calls `svc.notify()` after committing, to wake in-process workers."""
    prepared = prepare_run(svc, conn, request, svc.db.clock(conn))
    return write_run(svc, conn, request, prepared, idempotency_key=idempotency_key, origin=origin)


def write_run(
    svc: Services,
    conn: Connection,
    request: dict[str, Any],
    prepared: PreparedRun,
    *,
    idempotency_key: str | None = None,
    origin: Origin = Origin(),
) -> str:
    """Write a prepared run, its task runs, and make its first task runs ready (or
    reuse a resumed run's finished ones): any pipeline, any request."""
    plan, now, start_at, reused = prepared.plan, prepared.now, prepared.start_at, prepared.reused
    run_id = new_run_id()
    nodes = plan.spec.nodes
    resume_from = request.get("resume_from")
    run_store.insert_run(
        conn,
        id=run_id,
        pipeline=request["pipeline"],
        version_id=plan.version_id,
        args=request["args"],
        task_args=request["task_args"],
        force=request["force"],
        resumed_from=resume_from,
        priority=request["priority"],
        tags=request["tags"],
        remaining=len(nodes),
        created_at=now,
        idempotency_key=idempotency_key,
        request_hash=sha256_hex(request) if idempotency_key is not None else None,
        start_at=start_at,
        expires_at=prepared.expires_at,
        **origin._asdict(),
    )
    priority = request["priority"]
    run_store.insert_task_runs(
        conn,
        [
            _node_row(plan, run_id, node.id, now, priority, reused.get(node.id), start_at)
            for node in nodes
        ]
        + [
            _copy_row(run_id, child, now, plan.limit_keys.get(child.node_id, "[]"))
            for row in reused.values()
            for child in row[1]
        ],
    )
    run = run_store.get_run(conn, run_id)
    roots = [n for n in plan.graph.roots() if n not in reused]
    done = [(n, -1, True) for n in plan.graph.order if n in reused]
    advance(svc, conn, plan, run, ready=roots, done=done)
    return run_id


def _start_window(request: Mapping[str, Any], now: float) -> tuple[float | None, float | None]:
    """(start_at, expires_at) of a request, checked against the database clock."""
    start_at, start_in = request.get("start_at"), request.get("start_in")
    expires_at = request.get("expires_at")
    problems = []
    if start_at is not None and start_in is not None:
        problems.append(Problem("", "start_in", "give start_at or start_in, not both"))
    if start_in is not None:
        if start_in < 0:
            problems.append(Problem("", "start_in", "must not be negative"))
        start_at = now + start_in
    if expires_at is not None:
        if expires_at <= now:
            problems.append(Problem("", "expires_at", "is already in the past"))
        elif start_at is not None and expires_at <= start_at:
            problems.append(Problem("", "expires_at", "must be after the start time"))
    if problems:
        raise ValidationError(problems, "invalid start controls")
    return start_at, expires_at


def task_run_rows(plan: Plan, run_id: str, now: float, priority: int) -> list[dict[str, Any]]:
    """The task-run rows of a new run, all pending (a backfill's queued runs)."""
    return [_node_row(plan, run_id, node.id, now, priority) for node in plan.spec.nodes]


def _node_row(
    plan: Plan,
    run_id: str,
    node_id: str,
    now: float,
    priority: int,
    reused: tuple[TaskRunRow, list[TaskRunRow]] | None = None,
    start_at: float | None = None,
) -> dict[str, Any]:
    node = plan.spec.node_map[node_id]
    task = plan.spec.tasks[node.task]
    row = {
        "run_id": run_id,
        "node_id": node_id,
        "map_index": -1,
        "task": node.task,
        "state": TaskRunState.PENDING.value,
        "queue": task.queue,
        "priority": priority,
        # Claiming already waits for available_at (retry backoff): a run's start time
        # is the same gate, so workers need no idea of start_at.
        "available_at": start_at if start_at is not None else now,
        "waiting_on": len(plan.graph.upstream[node_id]),
        "is_map_parent": node.map is not None,
        "max_attempts": task.retries + 1,
        "created_at": now,
        "limit_keys": plan.limit_keys[node_id],
    }
    if reused is not None:
        old = reused[0]
        row |= {
            "state": TaskRunState.CACHED.value,
            "cache_key": old.cache_key,
            "args": old.args,
            "output": old.output,
            "artifact": old.artifact,
            "waiting_on": 0,
            "ended_at": now,
        }
    return row


def _copy_row(run_id: str, old: TaskRunRow, now: float, limit_keys: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "node_id": old.node_id,
        "map_index": old.map_index,
        "task": old.task,
        "state": TaskRunState.CACHED.value,
        "queue": old.queue,
        "available_at": now,
        "waiting_on": 0,
        "max_attempts": old.max_attempts,
        "cache_key": old.cache_key,
        "args": old.args,
        "output": old.output,
        "artifact": old.artifact,
        "created_at": now,
        "ended_at": now,
        "limit_keys": limit_keys,
    }


def _reused_rows(
    conn: Connection, source_run: str
) -> dict[str, tuple[TaskRunRow, list[TaskRunRow]]]:
    """The source run's succeeded nodes (with their map children), to be reused as cached
    by a resumed run. The source run itself is not touched."""
    rows = run_store.list_task_runs(conn, run_store.get_run(conn, source_run).id)
    ok: dict[str, tuple[TaskRunRow, list[TaskRunRow]]] = {
        r.node_id: (r, []) for r in rows if r.map_index < 0 and r.state in TASK_RUN_OK
    }
    for r in rows:
        if r.map_index >= 0 and r.node_id in ok:
            ok[r.node_id][1].append(r)
    return ok


def cancel_run(svc: Services, run_id: str) -> bool:
    """Cancel a queued or running run: its open task runs and running attempts end as
    cancelled. Workers holding those attempts find their leases refused and stop them."""
    done = retry_contended(lambda: end_run(svc, run_id, RunState.CANCELLED))
    svc.notify()
    return done


def end_run(svc: Services, run_id: str, target: RunState, *, unless_started: bool = False) -> bool:
    """End a run that has not ended as `target` (cancelled, or expired when
    `unless_started` and none of its attempts has begun). False if it had ended (or
    started) already. A backfill's next queued run takes the freed place."""
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        run = run_store.get_run(conn, run_id)
        if run.state not in (RunState.RUNNING, RunState.QUEUED):
            return False
        if unless_started:
            # Only expiry ends a run unless started: `headwater run` never loads this.
            from headwater.store.expiry import has_started

            if has_started(conn, run_id):
                return False
        # Rows are locked in the order completions lock them (attempts, task runs,
        # then the run), so a cancel and a completion cannot deadlock on them.
        run_store.end_running_attempts(conn, run_id, AttemptState.CANCELLED, now)
        cancelled = run_store.cancel_open_task_runs(conn, run_id, now)
        if not run_store.finish_run(conn, run_id, target, now):
            return False  # it ended meanwhile; the guarded updates above changed nothing
        run_store.add_remaining(conn, run_id, -cancelled)
        if run.backfill_id is not None and run.state == RunState.RUNNING:
            start_next_queued(svc, conn, run.backfill_id)
        return True


def cancel_task_run(svc: Services, run_id: str, node_id: str, map_index: int = -1) -> bool:
    """Cancel one task run (a node, with its map elements, or one element): its running
    attempts are refused from now on and stopped by their workers at the next heartbeat;
    what depends on it will not run, and the run carries on with the rest."""
    done = retry_contended(lambda: _cancel_task_run_once(svc, run_id, node_id, map_index))
    svc.notify()
    return done


def _cancel_task_run_once(svc: Services, run_id: str, node_id: str, map_index: int) -> bool:
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        run = run_store.get_run(conn, run_id)
        # The node's own row and, cancelling a whole node, its map elements too.
        rows = [
            r
            for r in run_store.list_task_runs(conn, run_id)
            if r.node_id == node_id and (map_index < 0 or r.map_index == map_index)
        ]
        target = next((r for r in rows if r.map_index == map_index), None)
        if target is None:
            raise NotFound(
                f"run {run_id} has no task run {node_id}"
                + (f"[{map_index}]" if map_index >= 0 else "")
            )
        # Attempts first, then map elements, then the node: the order completions lock.
        run_store.end_task_run_attempts(conn, [r.id for r in rows], AttemptState.CANCELLED, now)
        children = 0
        if target.is_map_parent:
            children = run_store.cancel_open_children(conn, run_id, node_id, now)
        if not run_store.transition_task_run(conn, target.id, TaskRunState.CANCELLED, ended_at=now):
            return False
        if children:
            run_store.add_remaining(conn, run_id, -children)
        plan = svc.plans.get(conn, run.version_id)
        advance(svc, conn, plan, run, done=[(node_id, map_index, False)])
    return True


CONTENDED_RETRIES = 5


def retry_contended(action: Callable[[], T]) -> T:
    """Run a transaction again when the database aborted it to break a deadlock."""
    for attempt in range(CONTENDED_RETRIES):
        try:
            return action()
        except Contended:
            if attempt == CONTENDED_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class RunView(NamedTuple):
    """A run with its task runs and their attempts."""

    run: RunRow
    task_runs: list[TaskRunRow]
    attempts: list[AttemptRow]


def get_run_view(svc: Services, run_id: str) -> RunView:
    with svc.db.read() as conn:
        return read_run_view(conn, run_id)


def read_run_view(conn: Connection, run_id: str) -> RunView:
    """`get_run_view` inside a transaction the caller holds."""
    return RunView(
        run_store.get_run(conn, run_id),
        run_store.list_task_runs(conn, run_id),
        run_store.list_attempts(conn, run_id),
    )


__all__ = [
    "Origin",
    "PreparedRun",
    "RunView",
    "StartControls",
    "cancel_run",
    "cancel_task_run",
    "create_run",
    "end_run",
    "get_run_view",
    "prepare_run",
    "read_run_view",
    "register_pipeline",
    "run_request",
    "start_run",
    "task_run_rows",
    "write_run",
]
