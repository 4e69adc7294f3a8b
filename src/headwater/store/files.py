"""Where a task run's files are: the artifact prefix and attempt log labels, read from
the run, task run and attempt rows (the API serves logs and artifacts by these)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.states import AttemptState, TaskRunState
from headwater.errors import NotFound
from headwater.store.tables import attempts, runs, task_runs


@dataclass(frozen=True)
class AttemptLogs:
    """One attempt and the folder of its logs (no label: it never executed anything,
    e.g. a cache hit, or it was claimed but not started)."""

    attempt_id: int
    state: AttemptState
    pipeline: str
    task: str
    cache_key: str | None
    log_label: str | None


@dataclass(frozen=True)
class TaskRunFiles:
    task_run_id: int
    state: TaskRunState
    pipeline: str
    task: str
    cache_key: str | None
    log_labels: list[str]  # of this task run's own attempts, oldest first
    output: str | None = None  # JSON, when small enough to be kept in the database
    args: str | None = None  # JSON
    artifact: bool = False  # its outputs were committed to the artifact store
    is_map_parent: bool = False


_ATTEMPT_LOGS = (
    sa.select(
        attempts.c.id,
        attempts.c.state,
        attempts.c.log_label,
        runs.c.pipeline,
        task_runs.c.task,
        task_runs.c.cache_key,
    )
    .join(task_runs, task_runs.c.id == attempts.c.task_run_id)
    .join(runs, runs.c.id == task_runs.c.run_id)
    .where(attempts.c.id == sa.bindparam("b_id"))
)
_TASK_RUN = (
    sa.select(
        task_runs.c.id,
        task_runs.c.state,
        task_runs.c.task,
        task_runs.c.cache_key,
        task_runs.c.output,
        task_runs.c.args,
        task_runs.c.artifact,
        task_runs.c.is_map_parent,
        runs.c.pipeline,
    )
    .join(runs, runs.c.id == task_runs.c.run_id)
    .where(task_runs.c.id == sa.bindparam("b_id"))
)
_LABELS = (
    sa.select(attempts.c.log_label)
    .where(attempts.c.task_run_id == sa.bindparam("b_id"), attempts.c.log_label.is_not(None))
    .order_by(attempts.c.id)
)


def get_attempt_logs(conn: Connection, attempt_id: int) -> AttemptLogs:
    row = conn.execute(_ATTEMPT_LOGS, {"b_id": attempt_id}).first()
    if row is None:
        raise NotFound(f"no attempt {attempt_id}")
    return AttemptLogs(
        row.id, AttemptState(row.state), row.pipeline, row.task, row.cache_key, row.log_label
    )


def get_attempt_state(conn: Connection, attempt_id: int) -> AttemptState:
    state = conn.execute(sa.select(attempts.c.state).where(attempts.c.id == attempt_id)).scalar()
    if state is None:
        raise NotFound(f"no attempt {attempt_id}")
    return AttemptState(state)


def get_task_run_files(conn: Connection, task_run_id: int) -> TaskRunFiles:
    row = conn.execute(_TASK_RUN, {"b_id": task_run_id}).first()
    if row is None:
        raise NotFound(f"no task run {task_run_id}")
    labels = [label for (label,) in conn.execute(_LABELS, {"b_id": task_run_id})]
    return TaskRunFiles(
        row.id,
        TaskRunState(row.state),
        row.pipeline,
        row.task,
        row.cache_key,
        labels,
        row.output,
        row.args,
        bool(row.artifact),
        bool(row.is_map_parent),
    )
