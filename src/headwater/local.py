"""Running a pipeline on this machine, in this process: `headwater.run` and `headwater run`.

`run(pipeline, **args)` needs no server, no configuration and leaves no files: an
in-memory SQLite database and a temporary artifact folder, removed when it returns.
It is meant for a user's own tests:

    def test_squares():
        result = headwater.run(squares, n=3)
        assert result.state == "succeeded"
        assert result.output == [0, 1, 4]
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from headwater.authoring.registry import PipelineLike, Registry, current_registry
from headwater.config import Settings
from headwater.domain.bindings import OutputRef, ParamRef, resolve, select
from headwater.domain.records import FrozenRecord
from headwater.domain.spec import PipelineSpec
from headwater.domain.states import RunState
from headwater.errors import ValidationError
from headwater.services.arguments import validate_run_args
from headwater.services.context import Services, open_services
from headwater.services.plans import Plan
from headwater.services.runs import (
    RunView,
    StartControls,
    read_run_view,
    register_pipeline,
    start_run,
)
from headwater.worker.code import CodeLocation
from headwater.worker.worker import Worker, run_is_over


class TaskFailure(FrozenRecord):
    """A task run that failed, with the error of its last attempt."""

    __match_args__ = ("node", "error_type", "message", "traceback")
    __slots__ = __match_args__
    node: str  # node id, with [i] for a map element
    error_type: str
    message: str
    traceback: str

    def __init__(self, node: str, error_type: str, message: str, traceback: str) -> None:
        self._set(node=node, error_type=error_type, message=message, traceback=traceback)


class RunResult(FrozenRecord):
    """A run that has ended: its state, its output, and each task run."""

    __match_args__ = ("run_id", "state", "output", "view")
    __slots__ = (*__match_args__, "__dict__")  # __dict__: failures
    run_id: str
    state: RunState
    output: Any  # the pipeline's return value, resolved; None unless it succeeded
    view: RunView

    def __init__(self, run_id: str, state: RunState, output: Any, view: RunView) -> None:
        self._set(run_id=run_id, state=state, output=output, view=view)

    @property
    def ok(self) -> bool:
        return self.state == RunState.SUCCEEDED

    @property
    def task_states(self) -> dict[str, str]:
        return {tr.label: tr.state.value for tr in self.view.task_runs}

    @functools.cached_property
    def failures(self) -> list[TaskFailure]:
        by_task_run = {tr.id: tr for tr in self.view.task_runs}
        found = [
            TaskFailure(
                by_task_run[a.task_run_id].label,
                a.error_type or "",
                a.error_message or "",
                a.traceback or "",
            )
            for a in self.view.attempts
            if a.error_type
        ]
        found += [
            TaskFailure(tr.label, "Error", tr.error, "") for tr in self.view.task_runs if tr.error
        ]
        return found


def run(pipeline: PipelineLike | str, /, **args: Any) -> RunResult:
    """Run `pipeline` to its end in this process and return its result.

    In-memory database, temporary artifacts, nothing left behind. A run argument named
    like a reserved word can be passed through `run_pipeline(..., args={...})`.
    """
    import tempfile  # not on `headwater run`'s path

    with tempfile.TemporaryDirectory(prefix="headwater-") as tmp:
        settings = Settings(
            project_dir=tmp, database_url="sqlite://", artifacts=os.path.join(tmp, "artifacts")
        )
        svc = open_services(settings)
        try:
            return run_pipeline(svc, settings, pipeline, args=args)
        finally:
            svc.close()


def run_pipeline(
    svc: Services,
    settings: Settings,
    pipeline: PipelineLike | str,
    *,
    args: Mapping[str, Any] | None = None,
    task_args: Mapping[str, Mapping[str, Any]] | None = None,
    force: bool = False,
    resume_from: str | None = None,
    concurrency: int | None = None,
    registry: Registry | None = None,
    on_start: Callable[[str], None] | None = None,
    wait: Callable[[str, threading.Thread], None] | None = None,
    controls: StartControls | None = None,
) -> RunResult:
    """Register the pipeline, start a run and work on it here until it ends.

    `wait(run_id, worker_thread)` lets a caller (the CLI's live display) watch while the
    worker runs in a thread; by default the worker runs in this thread.
    """
    registry = registry or current_registry()
    found = registry.get_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    spec = found.spec
    # Check the arguments before anything is written, so a typo stores nothing at all.
    problems = validate_run_args(Plan(0, spec), args or {}, task_args or {})
    if problems:
        raise ValidationError(problems, f"invalid arguments for pipeline {spec.name}")
    register_pipeline(svc, spec)
    run_id = start_run(
        svc,
        spec.name,
        args,
        task_args=task_args,
        force=force,
        resume_from=resume_from,
        controls=controls or StartControls(),
    )
    if on_start is not None:
        on_start(run_id)
    worker = Worker(svc, CodeLocation(registry), settings, run_id=run_id, concurrency=concurrency)
    if wait is None:
        worker.run(until=run_is_over(svc, run_id))
    else:
        thread = threading.Thread(
            target=worker.run, args=(run_is_over(svc, run_id),), daemon=True, name="hw-local-worker"
        )
        thread.start()
        try:
            wait(run_id, thread)
        finally:
            worker.stop()
            thread.join()
    return result_of(svc, spec, run_id)


def result_of(svc: Services, spec: PipelineSpec, run_id: str) -> RunResult:
    with svc.db.read() as conn:
        view = read_run_view(conn, run_id)
        output = None
        if view.run.state == RunState.SUCCEEDED and spec.output is not None:
            nodes = {tr.node_id: tr for tr in view.task_runs if tr.map_index < 0}

            def lookup(ref: ParamRef | OutputRef) -> Any:
                if isinstance(ref, ParamRef):
                    return view.run.args.get(ref.name)
                value = svc.outputs.value(conn, view.run.pipeline, nodes[ref.node])
                return select(value, ref.path)

            output = resolve(spec.output, lookup)
    return RunResult(run_id, view.run.state, output, view)


__all__ = ["RunResult", "TaskFailure", "run", "run_pipeline"]
