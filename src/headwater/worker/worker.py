"""The worker loop: claim up to the free slots, supervise each attempt in a thread,
renew all leases in one statement per heartbeat, stop attempts whose lease was refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from headwater.config import Settings
from headwater.domain.canonical import canonical_json
from headwater.domain.spec import TaskDef
from headwater.domain.states import RUN_TERMINAL, AttemptState
from headwater.errors import StaleLease
from headwater.executors import capture
from headwater.executors.base import AttemptContext, Executor, Outcome
from headwater.executors.command import CommandExecutor
from headwater.executors.inline import InlineExecutor
from headwater.executors.process import ProcessExecutor
from headwater.services.arguments import resolve_task_run
from headwater.services.attempts import (
    Failure,
    Success,
    claim_work,
    record_failure,
    record_success,
    renew_leases,
)
from headwater.services.context import Services
from headwater.services.outputs import OUTPUT_FILE, PARAMS_FILE
from headwater.store import runs as run_store
from headwater.store.claims import Claim
from headwater.worker.code import CodeLocation

log = logging.getLogger("headwater.worker")
WAIT_SLICE_SECONDS = 0.25  # how often a supervisor checks for cancel and timeout


@dataclass
class _Active:
    claim: Claim
    cancelled: threading.Event = field(default_factory=threading.Event)


class Worker:
    """Runs task runs from the database. With `run_id`, only that run's (a local run)."""

    def __init__(
        self,
        svc: Services,
        code: CodeLocation,
        settings: Settings,
        *,
        run_id: str | None = None,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.svc, self.code, self.settings = svc, code, settings
        self.run_id, self.queues = run_id, list(queues) if queues else None
        self.concurrency = concurrency or settings.concurrency
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.executors: dict[str, Executor] = {
            "inline": InlineExecutor(),
            "process": ProcessExecutor(),
            "command": CommandExecutor(),
        }
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()

    # -- the loop ---------------------------------------------------------------------

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Work until `stop()` is called, or `until()` holds while nothing is active."""
        self.svc.listeners.append(self._wake.set)
        capture.install()
        heartbeat = threading.Thread(target=self._heartbeat, daemon=True, name="hw-heartbeat")
        heartbeat.start()
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="hw-attempt") as pool:
                self._loop(pool, until)
        finally:
            self._stop.set()
            capture.uninstall()
            self.svc.listeners.remove(self._wake.set)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self, pool: ThreadPoolExecutor, until: Callable[[], bool] | None) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                free = self.concurrency - len(self._active)
            claims = (
                claim_work(
                    self.svc,
                    worker_id=self.id,
                    limit=free,
                    lease_seconds=self.settings.lease_seconds,
                    queues=self.queues,
                    run_id=self.run_id,
                )
                if free > 0
                else []
            )
            for claim in claims:
                with self._lock:
                    self._active[claim.attempt_id] = _Active(claim)
                pool.submit(self._supervise, claim)
            if claims and len(claims) == free:
                continue
            with self._lock:
                idle = not self._active
            if idle and until is not None and until():
                return
            self._wake.wait(self.settings.poll_seconds)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            with self._lock:
                held = list(self._active)
            if not held:
                continue
            try:
                live = renew_leases(self.svc, held, self.settings.lease_seconds)
            except Exception:
                log.exception("heartbeat failed")
                continue
            with self._lock:
                for attempt_id in set(held) - live:
                    active = self._active.get(attempt_id)
                    if active is not None:
                        log.warning("lease of attempt %s refused: stopping it", attempt_id)
                        active.cancelled.set()

    # -- one attempt ------------------------------------------------------------------

    def _supervise(self, claim: Claim) -> None:
        try:
            self._attempt(claim)
        except StaleLease as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("attempt %s failed inside the worker", claim.attempt_id)
        finally:
            with self._lock:
                self._active.pop(claim.attempt_id, None)
            self._wake.set()

    def _attempt(self, claim: Claim) -> None:
        svc = self.svc
        with svc.db.read() as conn:
            run = run_store.get_run(conn, claim.run_id)
            plan = svc.plans.get(conn, run.version_id)
            try:
                resolved = resolve_task_run(
                    conn, plan, run, claim.node_id, claim.map_index, svc.outputs
                )
            except Exception as exc:  # noqa: BLE001 - bad bindings fail this task run only
                failure = Outcome.from_exception(exc)
                record_failure(
                    svc,
                    claim,
                    Failure(
                        AttemptState.FAILED,
                        failure.error_type,
                        f"cannot resolve arguments: {exc}",
                        failure.traceback,
                        retryable=False,
                    ),
                )
                return
        task = plan.spec.tasks[claim.task]
        prefix = svc.artifacts.prefix(run.pipeline, task.name, resolved.cache_key)
        args_json = canonical_json(resolved.args)
        if task.cache and not run.force and svc.artifacts.is_complete(prefix):
            output = svc.artifacts.read_bytes(prefix, OUTPUT_FILE).decode()
            record_success(svc, claim, Success(output, resolved.cache_key, args_json, True))
            return
        label = (
            f"{run.id}-{claim.node_id}"
            + (f"-{claim.map_index}" if claim.map_index >= 0 else "")
            + f"-{claim.number}"
        )
        with self._lock:
            cancelled = self._active[claim.attempt_id].cancelled
        with svc.artifacts.staging_dir() as output_dir:
            ctx = AttemptContext(
                run.id,
                run.pipeline,
                claim.node_id,
                claim.map_index,
                claim.number,
                task,
                resolved.args,
                svc.artifacts.log_dir(prefix, label),
                output_dir,
                svc.artifacts.uri(prefix, ""),
                self.code.load_callable,
                cancelled,
            )
            outcome = self._execute(ctx)
            svc.artifacts.publish_logs(prefix, label)
            self._record(claim, outcome, prefix, resolved.cache_key, args_json, output_dir, label)

    def _execute(self, ctx: AttemptContext) -> Outcome:
        executor = self.executors[self._executor_name(ctx.task)]
        execution = executor.launch(ctx)
        timeout = ctx.task.timeout_seconds
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            outcome = execution.wait(WAIT_SLICE_SECONDS)
            if outcome is not None:
                return outcome
            if ctx.cancelled.is_set():
                execution.terminate()
                execution.wait(WAIT_SLICE_SECONDS)
                return Outcome(
                    "cancelled", error_type="Cancelled", message="cancelled, or the lease was lost"
                )
            if deadline is not None and time.monotonic() >= deadline:
                execution.terminate()
                execution.wait(WAIT_SLICE_SECONDS)
                return Outcome(
                    "timed_out", error_type="TimedOut", message=f"timed out after {timeout:g} s"
                )

    def _executor_name(self, task: TaskDef) -> str:
        if task.kind == "command":
            return "command"
        return task.executor or self.settings.default_executor

    def _record(
        self,
        claim: Claim,
        outcome: Outcome,
        prefix: str,
        cache_key: str,
        args_json: str,
        output_dir: Path,
        label: str,
    ) -> None:
        svc = self.svc
        if outcome.state == "succeeded":
            try:
                output_json = canonical_json(outcome.output)
            except (TypeError, ValueError) as exc:
                outcome = Outcome(
                    "failed",
                    error_type="InvalidOutput",
                    message=f"the task's output is not JSON: {exc}",
                )
            else:
                svc.artifacts.commit(
                    prefix,
                    {OUTPUT_FILE: output_json.encode(), PARAMS_FILE: _pretty(args_json)},
                    staged_dir=output_dir,
                )
                record_success(
                    svc, claim, Success(output_json, cache_key, args_json, log_label=label)
                )
                return
        state = {
            "failed": AttemptState.FAILED,
            "timed_out": AttemptState.TIMED_OUT,
            "cancelled": AttemptState.CANCELLED,
        }[outcome.state]
        record_failure(
            svc,
            claim,
            Failure(
                state,
                outcome.error_type,
                outcome.message,
                outcome.traceback,
                retryable=state != AttemptState.CANCELLED,
                args_json=args_json,
                log_label=label,
                cache_key=cache_key,
            ),
        )


def _pretty(args_json: str) -> bytes:
    return (json.dumps(json.loads(args_json), indent=2, ensure_ascii=False) + "\n").encode()


def run_is_over(svc: Services, run_id: str) -> Callable[[], bool]:
    def check() -> bool:
        with svc.db.read() as conn:
            return run_store.get_run(conn, run_id).state in RUN_TERMINAL

    return check
