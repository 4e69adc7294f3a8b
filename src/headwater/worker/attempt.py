"""Supervising one attempt: resolve its arguments, reuse a cached output or execute it
(watching for timeout, cancel and a lost lease), store the artifact, record the result.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from headwater.config import Settings
from headwater.domain.canonical import canonical_json
from headwater.domain.records import NamedTuple
from headwater.domain.states import AttemptState
from headwater.errors import StaleLease, StoreUnavailable
from headwater.executors.base import AttemptContext, CancelSignal, Execution, Executor, Outcome
from headwater.logs import get_logger
from headwater.services.arguments import resolve_task_run
from headwater.services.attempts import (
    ClaimRequest,
    Failure,
    Success,
    claim_work_for,
    record_log_location,
    record_results,
    release_attempts,
    renew_leases,
)
from headwater.services.context import Services
from headwater.services.outputs import OUTPUT_FILE, PARAMS_FILE, inline_output, pretty_params
from headwater.store.claims import Claim
from headwater.worker.code import CodeLocation

log = get_logger("headwater.worker")
T = TypeVar("T")
NextClaim = Callable[[], ClaimRequest | None]
WAIT_SLICE_SECONDS = 0.25  # how often a supervisor checks for cancel and timeout


class Supervised:
    """One attempt this worker holds. `cancelled` stops it (lease refused, run
    cancelled); `release` additionally gives it back instead of recording a failure."""

    __slots__ = (
        "cancelled",
        "claim",
        "executed_seconds",
        "finishing",
        "lease_confirmed",
        "release",
    )

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.cancelled = CancelSignal()
        self.release = False  # only read and written: no one waits on it (nor on `finishing`)
        # Set once the work is done and its result is being recorded: a heartbeat that
        # then finds the lease gone is seeing the attempt's own end, not a lost lease.
        self.finishing = False
        # When the lease was last known live (claim or heartbeat), on the monotonic clock,
        # which keeps counting while the process is frozen (SIGSTOP).
        self.lease_confirmed = time.monotonic()
        # How long the task itself ran (0 for a cache hit): what batching decides on.
        self.executed_seconds = 0.0


class Pending(NamedTuple):
    """An attempt's result, to be recorded; `after` runs once it is committed."""

    claim: Claim
    result: Success | Failure
    after: Callable[[], None] | None = None


class _Finished(NamedTuple):
    """An executed attempt, before its result is stored and recorded."""

    outcome: Outcome
    prefix: str
    cache_key: str
    args_json: str
    output_dir: str
    label: str


class AttemptRunner:
    def __init__(
        self,
        svc: Services,
        code: CodeLocation,
        settings: Settings,
        executors: Mapping[str, Executor],
    ) -> None:
        self.svc, self.code, self.settings, self.executors = svc, code, settings, executors

    def run(self, held: Supervised, then_claim: NextClaim = lambda: None) -> Claim | None:
        """Run one attempt to its recorded end. If `then_claim()` (asked when recording,
        so a worker that began stopping meanwhile says no) gives a request, the
        transaction that records the attempt also claims the next one, returned."""
        pending = self.prepare_and_execute(held)
        if pending is None:
            return None
        claimed = self.record([pending], then_claim, 1)
        return claimed[0] if claimed else None

    def record(self, pending: list[Pending], then_claim: NextClaim, count: int) -> list[Claim]:
        """Record attempts' results in one transaction (retried while the database is
        unreachable), claiming up to `count` next; then store what waits on the commit."""
        if not pending:
            request = then_claim()
            if request is None or count <= 0:
                return []
            return self._persist(lambda: claim_work_for(self.svc, request, count)) or []
        try:
            recorded = self._persist(
                lambda: record_results(
                    self.svc, [(p.claim, p.result) for p in pending], then_claim(), count
                )
            )
        except Exception:
            if len(pending) == 1:
                raise
            # One result the store cannot take (a bug, a run deleted meanwhile) must not
            # take the others down with it: record them one by one.
            log.exception("recording %d results together failed; one by one", len(pending))
            return self._record_each(pending, then_claim, count)
        if recorded is None:
            return []
        refused = {c.attempt_id for c in recorded.refused}
        for item in pending:
            if item.claim.attempt_id in refused:
                log.warning(
                    "attempt %s is no longer running; result refused", item.claim.attempt_id
                )
            elif item.after is not None:
                try:
                    item.after()
                except Exception:  # the result stands; only its files are missing
                    log.exception("storing the artifact of attempt %s", item.claim.attempt_id)
        return recorded.claimed

    def _record_each(
        self, pending: list[Pending], then_claim: NextClaim, count: int
    ) -> list[Claim]:
        claimed: list[Claim] = []
        for item in pending:
            try:
                claimed += self.record([item], then_claim if not claimed else _none, count)
            except Exception:
                log.exception("recording the result of attempt %s failed", item.claim.attempt_id)
        return claimed

    def prepare_and_execute(self, held: Supervised) -> Pending | None:
        """Resolve, reuse a cached output or execute: the result to record (None when
        the attempt was given back instead). Large outputs and files are stored here,
        before the result is recorded; small outputs after (Pending.after)."""
        claim, svc = held.claim, self.svc
        bad_arguments: Exception | None = None
        cached: tuple[str, str | None] | None = None
        with svc.db.read() as conn:
            run = svc.runs.get(conn, claim.run_id)
            plan = svc.plans.get(conn, run.version_id)
            try:
                resolved = resolve_task_run(
                    conn,
                    plan,
                    run,
                    claim.node_id,
                    claim.map_index,
                    svc.outputs,
                    svc.runs.node_task_runs,
                )
            except StoreUnavailable:
                raise  # an outage, not the task's fault: the worker gives the attempt back
            except Exception as exc:  # noqa: BLE001 - bad bindings fail this task run only
                bad_arguments = exc
            else:
                task = plan.spec.tasks[claim.task]
                if task.cache and not run.force:
                    cached = svc.outputs.cached(conn, run.pipeline, task.name, resolved.cache_key)
        if bad_arguments is not None:
            # Recorded after the read transaction has ended, never inside it.
            held.finishing = True
            failure = Outcome.from_exception(bad_arguments)
            failed = Failure(
                AttemptState.FAILED,
                failure.error_type,
                f"cannot resolve arguments: {bad_arguments}",
                failure.traceback,
                retryable=False,
            )
            return Pending(claim, failed)
        prefix = svc.artifacts.prefix(run.pipeline, task.name, resolved.cache_key)
        args_json = canonical_json(resolved.args)
        if cached is not None:  # a small output with this key, in the database
            held.finishing = True
            return Pending(claim, Success(cached[0], resolved.cache_key, args_json, cached=True))
        if task.cache and not run.force and svc.artifacts.is_complete(prefix):
            held.finishing = True
            output = svc.artifacts.read_bytes(prefix, OUTPUT_FILE).decode()
            hit = Success(output, resolved.cache_key, args_json, cached=True, artifact=True)
            return Pending(claim, hit)
        suffix = f"-{claim.map_index}" if claim.map_index >= 0 else ""
        label = f"{run.id}-{claim.node_id}{suffix}-{claim.number}"

        def note_log_location() -> None:
            # So readers (the API, `logs --follow`) find the log while the attempt runs.
            # Best effort: the result's own record names the log in any case.
            try:
                record_log_location(svc, claim, label, resolved.cache_key)
            except StoreUnavailable as exc:
                log.warning("cannot record where attempt %s logs: %s", claim.attempt_id, exc)

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
                held.cancelled,
                note_log_location,
            )
            began = time.monotonic()
            outcome = self._execute(ctx)
            held.executed_seconds = time.monotonic() - began
            held.finishing = True
            svc.artifacts.publish_logs(prefix, label)
            if held.release and outcome.state == "cancelled":
                self._persist(lambda: release_attempts(svc, [claim]))
                return None
            finished = _Finished(outcome, prefix, resolved.cache_key, args_json, output_dir, label)
            return self._result(held, finished)

    def _execute(self, ctx: AttemptContext) -> Outcome:
        kind = (
            "command"
            if ctx.task.kind == "command"
            else (ctx.task.executor or self.settings.default_executor)
        )
        execution = self.executors[kind].launch(ctx)
        timeout = ctx.task.timeout_seconds
        if execution.runs_in_caller:
            return _execute_here(execution, ctx.cancelled, timeout)
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            outcome = execution.wait(WAIT_SLICE_SECONDS)
            if outcome is not None:
                return outcome
            if ctx.cancelled.is_set():
                execution.terminate()
                execution.wait(WAIT_SLICE_SECONDS)
                return _cancelled()
            if deadline is not None and time.monotonic() >= deadline:
                execution.terminate()
                execution.wait(WAIT_SLICE_SECONDS)
                return _timed_out(timeout)

    def _result(self, held: Supervised, finished: _Finished) -> Pending:
        claim, outcome = held.claim, finished.outcome
        cache_key, args_json = finished.cache_key, finished.args_json
        label = finished.label
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
                return self._succeed(held, finished, output_json)
        state = {
            "failed": AttemptState.FAILED,
            "timed_out": AttemptState.TIMED_OUT,
            "cancelled": AttemptState.CANCELLED,
        }[outcome.state]
        failed = Failure(
            state,
            outcome.error_type,
            outcome.message,
            outcome.traceback,
            retryable=state != AttemptState.CANCELLED,
            args_json=args_json,
            log_label=label,
            cache_key=cache_key,
        )
        return Pending(claim, failed)

    def _succeed(self, held: Supervised, finished: _Finished, output_json: str) -> Pending:
        claim, prefix, label = held.claim, finished.prefix, finished.label
        if inline_output(output_json) is not None and not os.path.exists(finished.output_dir):
            # A small output and no files: the database keeps it (see services/outputs).
            kept = Success(output_json, finished.cache_key, finished.args_json, log_label=label)
            return Pending(claim, kept)
        done = Success(
            output_json, finished.cache_key, finished.args_json, log_label=label, artifact=True
        )
        files = {OUTPUT_FILE: output_json.encode(), PARAMS_FILE: pretty_params(finished.args_json)}
        # A worker that lost its lease (frozen, cut off) must not overwrite the artifact
        # of the retry that replaced it. Within half a lease of its last confirmation the
        # lease is surely live; past that, renew it (which checks it) before storing, so
        # the store is well inside the lease.
        if time.monotonic() - held.lease_confirmed > self.settings.lease_seconds / 2 and (
            not renew_leases(self.svc, [claim.attempt_id], self.settings.lease_seconds)
        ):
            raise StaleLease(
                f"attempt {claim.attempt_id} lost its lease: result refused, its output not stored"
            )
        self.svc.artifacts.commit(prefix, files, staged_dir=finished.output_dir)
        return Pending(claim, done)

    def _persist(self, record: Callable[[], T]) -> T | None:
        """Record a result, retrying while the database is unreachable. After the lease
        has surely expired, give up: the reaper retries the attempt, and its artifact
        (already stored) makes that retry a cache hit."""
        give_up = time.monotonic() + 2 * self.settings.lease_seconds
        pause = 0.1
        while True:
            try:
                return record()
            except StoreUnavailable as exc:
                if time.monotonic() > give_up:
                    log.error("giving up recording a result: %s", exc)
                    return None
                log.warning("database unavailable, retrying in %.1f s: %s", pause, exc)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)


def _none() -> None:
    return None


def _execute_here(execution: Execution, cancelled: CancelSignal, timeout: float | None) -> Outcome:
    """Run an attempt in this thread; a timer and the cancel signal stop it from theirs."""
    timed_out: list[bool] = []  # a threading.Event per attempt would cost more than the task

    def on_timeout() -> None:
        timed_out.append(True)
        execution.terminate()

    timer = None
    if timeout:
        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
    forget = cancelled.on_set(execution.terminate)
    try:
        outcome = execution.wait(None)
    finally:
        forget()
        if timer is not None:
            timer.cancel()
    assert outcome is not None
    if outcome.state == "cancelled" and timed_out:
        return _timed_out(timeout)
    if outcome.state == "cancelled":
        return _cancelled()
    return outcome


def _cancelled() -> Outcome:
    return Outcome("cancelled", error_type="Cancelled", message="cancelled, or the lease was lost")


def _timed_out(timeout: float | None) -> Outcome:
    return Outcome("timed_out", error_type="TimedOut", message=f"timed out after {timeout:g} s")
