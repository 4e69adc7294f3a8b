"""Read-only views for screens: pipelines with their last run, a run with its plan, a
task run's details, queue depths, and why a task run is still waiting."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from headwater.artifacts import ArtifactInfo
from headwater.artifacts.base import ATTEMPTS_DIR
from headwater.domain.states import TASK_RUN_OK, TaskRunState
from headwater.errors import NotFound
from headwater.services.context import Services
from headwater.services.outputs import database_files, kept_in_database
from headwater.services.plans import Plan
from headwater.store import limits as limit_store
from headwater.store import pipelines as pipeline_store
from headwater.store import runs as run_store
from headwater.store import stats as stats_store
from headwater.store import views as view_store
from headwater.store import workers as worker_store
from headwater.store.pipelines import PipelineRow
from headwater.store.runs import AttemptRow, RunRow, TaskRunRow
from headwater.store.stats import QueueStats
from headwater.store.views import AttemptSpan, LastRun, TaskRunProgress

# A worker still marked running but silent this long is not counted as live (the
# reaper marks it dead after two leases; this covers fleets where no reaper runs).
LIVE_WORKER_SILENT_SECONDS = 120.0


@dataclass(frozen=True)
class PipelineOverview:
    name: str
    description: str
    version: str
    origin: str
    enabled: bool
    nodes: int
    last_run: LastRun | None


@dataclass(frozen=True)
class PipelinePage:
    overview: PipelineOverview
    plan: Plan


@dataclass(frozen=True)
class RunPage:
    run: RunRow
    plan: Plan
    task_runs: list[TaskRunProgress]
    attempts: list[AttemptSpan]


@dataclass(frozen=True)
class TaskRunDetail:
    run: RunRow
    plan: Plan
    task_run: TaskRunRow
    attempts: list[AttemptRow]
    artifacts: list[ArtifactInfo]
    waiting: list[str]


def _plan_of(svc: Services, conn: Connection, name: str) -> tuple[PipelineRow, Plan]:
    row = pipeline_store.get_pipeline(conn, name)
    assert row.current_version_id is not None
    return row, svc.plans.get(conn, row.current_version_id)


def _overview(row: PipelineRow, plan: Plan, last: LastRun | None) -> PipelineOverview:
    spec = plan.spec
    return PipelineOverview(
        spec.name,
        spec.description,
        spec.content_hash,
        row.origin,
        row.enabled,
        len(spec.nodes),
        last,
    )


def list_pipeline_overviews(svc: Services) -> list[PipelineOverview]:
    with svc.db.read() as conn:
        last = view_store.last_runs(conn)
        found = []
        for row in pipeline_store.list_pipelines(conn):
            _, plan = _plan_of(svc, conn, row.name)
            found.append(_overview(row, plan, last.get(row.name)))
    return found


def get_pipeline_page(svc: Services, name: str) -> PipelinePage:
    with svc.db.read() as conn:
        row, plan = _plan_of(svc, conn, name)
        last = view_store.last_runs(conn).get(name)
    return PipelinePage(_overview(row, plan, last), plan)


def get_run_page(svc: Services, run_id: str) -> RunPage:
    with svc.db.read() as conn:
        run = run_store.get_run(conn, run_id)
        return RunPage(
            run,
            svc.plans.get(conn, run.version_id),
            view_store.list_task_run_states(conn, run_id),
            view_store.list_attempt_spans(conn, run_id),
        )


def list_task_run_progress(svc: Services, run_id: str) -> tuple[str, list[TaskRunProgress]]:
    """The run's state and its task runs' states (lean rows, for live updates)."""
    with svc.db.read() as conn:
        found = view_store.find_run_state(conn, run_id)
        if found is None:
            raise NotFound(f"no run {run_id!r}")
        return found[0], view_store.list_task_run_states(conn, run_id)


def get_task_run_detail(svc: Services, run_id: str, task_run_id: int) -> TaskRunDetail:
    with svc.db.read() as conn:
        run = run_store.get_run(conn, run_id)
        rows = run_store.list_task_runs(conn, run_id)
        task_run = next((r for r in rows if r.id == task_run_id), None)
        if task_run is None:
            raise NotFound(f"run {run_id} has no task run {task_run_id}")
        plan = svc.plans.get(conn, run.version_id)
        attempts = [
            a for a in run_store.list_attempts(conn, run_id) if a.task_run_id == task_run_id
        ]
        waiting = _why_waiting(conn, svc.db.clock(conn), plan, rows, task_run)
    return TaskRunDetail(run, plan, task_run, attempts, _artifacts(svc, run, task_run), waiting)


def _artifacts(svc: Services, run: RunRow, task_run: TaskRunRow) -> list[ArtifactInfo]:
    if task_run.cache_key is None or task_run.is_map_parent:
        return []
    prefix = svc.artifacts.prefix(run.pipeline, task_run.task, task_run.cache_key)
    if kept_in_database(task_run.state, task_run.output, task_run.artifact, task_run.is_map_parent):
        # A small output: kept in the database, served by the API under the same names
        # (the store may hold another run's outputs under this key; only logs count).
        files = database_files(task_run.output, task_run.args)
        logs = [f for f in svc.artifacts.list(prefix) if f.name.startswith(f"{ATTEMPTS_DIR}/")]
        kept = [ArtifactInfo(name, len(data), "") for name, data in files.items()]
        return sorted(kept + logs, key=lambda f: f.name)
    if not svc.artifacts.is_complete(prefix):
        return []
    return svc.artifacts.list(prefix)


def _why_waiting(
    conn: Connection, now: float, plan: Plan, rows: list[TaskRunRow], task_run: TaskRunRow
) -> list[str]:
    """What a pending or ready task run waits for, in words; [] for the others."""
    if task_run.state is TaskRunState.PENDING:
        return _waiting_upstream(plan, rows, task_run)
    if task_run.state is not TaskRunState.READY:
        return []
    schedule = view_store.task_run_schedule(conn, task_run.id)
    assert schedule is not None
    priority, available_at, limit_keys = schedule
    reasons = []
    if available_at > now:
        reasons.append(
            f"not claimable before {_when(available_at)} (in {available_at - now:.0f} s): "
            "a retry backoff or a start time in the future"
        )
    reasons += _waiting_limits(conn, json.loads(limit_keys))
    reasons += _waiting_workers(conn, now, task_run.queue)
    if not reasons:
        ahead = view_store.ready_ahead(conn, task_run.queue, priority, task_run.id, now)
        reasons.append(
            f"waiting for a free worker slot on queue {task_run.queue!r}: "
            f"{ahead} claimable task run(s) ahead of it"
        )
    return reasons


def _waiting_upstream(plan: Plan, rows: list[TaskRunRow], task_run: TaskRunRow) -> list[str]:
    nodes = {r.node_id: r for r in rows if r.map_index < 0}
    open_upstream = [
        f"{up} ({nodes[up].state.value})"
        for up in sorted(plan.graph.upstream.get(task_run.node_id, ()))
        if up in nodes and nodes[up].state not in TASK_RUN_OK
    ]
    if open_upstream:
        return ["waiting for upstream task runs: " + ", ".join(open_upstream)]
    return ["its upstream task runs have finished; it becomes ready at the next step"]


def _waiting_limits(conn: Connection, keys: list[str]) -> list[str]:
    limits = {row.key: row for row in limit_store.list_limits(conn)}
    return [
        f"concurrency limit {key}: {limits[key].running} of {limits[key].max_running} slots taken"
        for key in keys
        if key in limits and limits[key].running >= limits[key].max_running
    ]


def _waiting_workers(conn: Connection, now: float, queue: str) -> list[str]:
    live = [
        w
        for w in worker_store.list_workers(conn)
        if w.state == worker_store.RUNNING
        and now - w.heartbeat_at < LIVE_WORKER_SILENT_SECONDS
        and (not w.queues or queue in w.queues)
    ]
    if not live:
        return [f"no live worker takes work from queue {queue!r}"]
    if all(w.running >= w.concurrency for w in live):
        slots = sum(w.concurrency for w in live)
        return [f"every worker on queue {queue!r} is busy ({slots} of {slots} slots running)"]
    return []


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def list_queue_depths(svc: Services) -> list[QueueStats]:
    with svc.db.read() as conn:
        return stats_store.queue_stats(conn, svc.db.clock(conn))


__all__ = [
    "PipelineOverview",
    "PipelinePage",
    "RunPage",
    "TaskRunDetail",
    "get_pipeline_page",
    "get_run_page",
    "get_task_run_detail",
    "list_pipeline_overviews",
    "list_queue_depths",
    "list_task_run_progress",
]
