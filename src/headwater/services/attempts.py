"""Claiming work and recording what attempts did; each call is one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.domain.records import NamedTuple
from headwater.domain.states import AttemptState, TaskRunState
from headwater.errors import StaleLease
from headwater.services.context import Services
from headwater.services.outputs import inline_output
from headwater.services.progress import Done, advance
from headwater.store import claims as claim_store
from headwater.store import runs as run_store
from headwater.store.claims import Claim
from headwater.store.engine import after_commit

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MAX_TRACEBACK_CHARS = 64 * 1024


class ClaimRequest(NamedTuple):
    """Who claims, for how long, and from where (queues, or one run for a local run)."""

    worker_id: str
    lease_seconds: float
    queues: Sequence[str] | None = None
    run_id: str | None = None

    def claim(
        self, svc: Services, conn: Connection, limit: int, *, batch: bool = False
    ) -> list[Claim]:
        """Claim up to `limit`; `batch`: to run one after another in one thread."""
        return claim_store.claim(
            svc.db,
            conn,
            worker_id=self.worker_id,
            limit=limit,
            queues=self.queues,
            run_id=self.run_id,
            lease_seconds=self.lease_seconds,
            batch=batch,
        )


def claim_work(
    svc: Services,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None = None,
    run_id: str | None = None,
) -> list[Claim]:
    return claim_work_for(svc, ClaimRequest(worker_id, lease_seconds, queues, run_id), limit)


def claim_work_for(svc: Services, request: ClaimRequest, limit: int) -> list[Claim]:
    """Claim up to `limit` attempts as `request` says, in a transaction of its own."""
    with svc.db.write() as conn:
        return request.claim(svc, conn, limit)


def renew_leases(svc: Services, attempt_ids: Sequence[int], lease_seconds: float) -> set[int]:
    """Renew leases; the ids still live (the others must be stopped by their worker)."""
    if not attempt_ids:
        return set()
    with svc.db.write() as conn:
        return claim_store.renew_leases(svc.db, conn, attempt_ids, lease_seconds)


def record_log_location(svc: Services, claim: Claim, log_label: str, cache_key: str) -> bool:
    """Record, before an attempt executes, where its logs go: readers (the API, `logs
    --follow`) can then find them while it runs. False if the attempt is no longer running."""
    with svc.db.write() as conn:
        return run_store.set_log_location(
            conn, claim.attempt_id, claim.task_run_id, log_label, cache_key
        )


class Success(NamedTuple):
    """A succeeded attempt, to be recorded."""

    output_json: str
    cache_key: str
    args_json: str
    cached: bool = False
    log_label: str | None = None
    # Committed to the artifact store (files, or an output too large for the row): a
    # later cache hit must come from there, not from this row.
    artifact: bool = False


class Failure(NamedTuple):
    """An attempt that did not succeed, to be recorded (retried if `retryable`)."""

    state: AttemptState  # failed, timed_out or cancelled
    error_type: str
    message: str
    traceback: str = ""
    retryable: bool = True
    args_json: str | None = None
    log_label: str | None = None
    cache_key: str | None = None  # where its logs are, when arguments were resolved


def record_success(
    svc: Services, claim: Claim, result: Success, then_claim: ClaimRequest | None = None
) -> Claim | None:
    """End the attempt and its task run as succeeded (or cached) and move the run on.
    Raises StaleLease, changing nothing, if the attempt is no longer running.

    With `then_claim`, the same transaction also claims the next ready task run for the
    caller, returned: a worker thread goes straight on to it, with one transaction per
    task run instead of two (a chain of tasks never waits for the claiming loop)."""
    return _record_one(svc, claim, result, then_claim)


def record_failure(
    svc: Services, claim: Claim, failure: Failure, then_claim: ClaimRequest | None = None
) -> Claim | None:
    """End the attempt as failed; retry the task run after a backoff if it has retries
    left (and the failure is retryable), else fail it and what depends on it.
    Raises StaleLease, changing nothing, if the attempt is no longer running.
    `then_claim`: as for `record_success`."""
    return _record_one(svc, claim, failure, then_claim)


def _record_one(
    svc: Services, claim: Claim, result: Success | Failure, then_claim: ClaimRequest | None
) -> Claim | None:
    with svc.db.write() as conn:
        recorded = _record(svc, conn, [(claim, result)], then_claim, 1, refuse_raises=True)
    return recorded.claimed[0] if recorded.claimed else None


class Recorded(NamedTuple):
    """What `record_results` did: the attempts whose results were refused (no longer
    running: a lost lease or a cancel), and the attempts claimed next."""

    refused: list[Claim]
    claimed: list[Claim]


def record_results(
    svc: Services,
    results: Sequence[tuple[Claim, Success | Failure]],
    then_claim: ClaimRequest | None = None,
    then_count: int = 1,
) -> Recorded:
    """Record several attempts' results in one transaction, as `record_success` and
    `record_failure` would one by one, and claim up to `then_count` attempts next.
    A worker thread that ran a batch of quick attempts pays one transaction for all.
    A refused result (stale lease) changes nothing and does not stop the others.

    Rows are locked in one order, the order the reaper and cancels lock them too:
    attempts (by id), then their task runs (by id), then the runs' and map parents'
    counters. So a batch waits at most for a reaper or a cancel, never in a cycle with
    one. The next attempts are claimed before the counters are updated (claims skip
    locked rows and wait for nothing), so the counters, which every completion of a
    run updates, stay locked only for the end of the transaction."""
    with svc.db.write() as conn:
        return _record(svc, conn, results, then_claim, then_count)


def _record(
    svc: Services,
    conn: Connection,
    results: Sequence[tuple[Claim, Success | Failure]],
    then_claim: ClaimRequest | None,
    then_count: int,
    *,
    refuse_raises: bool = False,
) -> Recorded:
    """`refuse_raises`: a refused result raises StaleLease (the transaction then changes
    nothing) instead of being reported."""
    now = svc.db.clock(conn)
    ordered = sorted(results, key=lambda r: r[0].attempt_id)
    ends = [(claim.attempt_id, *_attempt_end(result)) for claim, result in ordered]
    if len({state for _, state, _ in ends}) > 1:
        # Mixed outcomes are written one statement per kind, each in id order: take every
        # lock first, attempts then task runs, each in id order (see record_results).
        run_store.lock_in_id_order(conn, "attempts", [claim.attempt_id for claim, _ in ordered])
        run_store.lock_in_id_order(conn, "task_runs", [claim.task_run_id for claim, _ in ordered])
    ended_ids = run_store.finish_attempts(conn, ends, now)
    refused = [claim for claim, _ in ordered if claim.attempt_id not in ended_ids]
    if refused and refuse_raises:
        raise StaleLease(f"attempt {refused[0].attempt_id} is no longer running; result refused")
    ended = sorted(
        ((c, r) for c, r in ordered if c.attempt_id in ended_ids), key=lambda e: e[0].task_run_id
    )
    run_store.transition_task_runs(
        conn,
        [
            (claim.task_run_id, _task_run_success(result), _success_values(result, now))
            for claim, result in ended
            if isinstance(result, Success)
        ],
    )
    done: dict[str, list[Done]] = {}
    for claim, result in ended:
        ok = True if isinstance(result, Success) else _fail_task_run(svc, conn, claim, result, now)
        if ok is not None:
            done.setdefault(claim.run_id, []).append((claim.node_id, claim.map_index, ok))
    # PostgreSQL: claim before the counters are locked (see record_results). SQLite
    # has one writer and no row locks: claim once, after what this result made ready.
    claim_first = svc.db.dialect != "sqlite"
    claimed = _claim_next(svc, conn, then_claim, then_count) if claim_first else []
    for run_id in sorted(done):  # two batches lock the same runs in the same order
        plan, run = _plan_and_run(svc, conn, run_id)
        advance(svc, conn, plan, run, done=done[run_id], now=now)
    if not claimed and (not claim_first or claim_store.made_ready(conn)):
        claimed = _claim_next(svc, conn, then_claim, then_count)  # what this made ready
    if claim_store.made_ready(conn) > len(claimed):
        after_commit(conn, svc.notify)
    return Recorded(refused, claimed)


def _claim_next(
    svc: Services, conn: Connection, then_claim: ClaimRequest | None, count: int
) -> list[Claim]:
    return then_claim.claim(svc, conn, count, batch=True) if then_claim is not None else []


def _attempt_end(result: Success | Failure) -> tuple[AttemptState, dict[str, Any]]:
    """The state an attempt ends in, and the columns written with it."""
    if isinstance(result, Success):
        state = AttemptState.CACHED if result.cached else AttemptState.SUCCEEDED
        return state, {"log_label": result.log_label}
    return result.state, {
        "error_type": result.error_type[:200],
        "error_message": result.message,
        "traceback": result.traceback[-MAX_TRACEBACK_CHARS:],
        "log_label": result.log_label,
    }


def _task_run_success(result: Success) -> TaskRunState:
    return TaskRunState.CACHED if result.cached else TaskRunState.SUCCEEDED


def _success_values(result: Success, now: float) -> dict[str, Any]:
    return {
        "ended_at": now,
        "output": inline_output(result.output_json),
        "cache_key": result.cache_key,
        "args": result.args_json,
        "artifact": result.artifact,
    }


def _fail_task_run(
    svc: Services, conn: Connection, claim: Claim, failure: Failure, now: float
) -> bool | None:
    """Retry the task run of a failed attempt after a backoff if it has retries left
    (and the failure is retryable): None; else fail it: False (for `advance`)."""
    extra: dict[str, Any] = {}
    if failure.args_json:
        extra["args"] = failure.args_json
    if failure.cache_key:
        extra["cache_key"] = failure.cache_key
    if failure.retryable and claim.number < claim.max_attempts:
        # Imported here: most runs retry nothing.
        from headwater.domain.backoff import retry_delay_seconds

        plan, _ = _plan_and_run(svc, conn, claim.run_id)
        delay = retry_delay_seconds(plan.spec.tasks[claim.task].backoff, claim.number)
        run_store.transition_task_run(
            conn, claim.task_run_id, TaskRunState.READY, available_at=svc.db.now() + delay, **extra
        )
        claim_store.notify_ready(svc.db, conn)
        return None
    run_store.transition_task_run(
        conn, claim.task_run_id, TaskRunState.FAILED, ended_at=now, **extra
    )
    return False


def _fail(svc: Services, conn: Connection, claim: Claim, failure: Failure) -> bool:
    now = svc.db.clock(conn)
    state, values = _attempt_end(failure)
    if not run_store.finish_attempt(conn, claim.attempt_id, state, now, **values):
        return False
    ok = _fail_task_run(svc, conn, claim, failure, now)
    if ok is not None:
        plan, run = _plan_and_run(svc, conn, claim.run_id)
        advance(svc, conn, plan, run, done=[(claim.node_id, claim.map_index, ok)], now=now)
    return True


REAP_BATCH = 100


def reap_expired_leases(svc: Services, limit: int = REAP_BATCH) -> int:
    """Mark attempts whose lease expired as lost and retry their task runs (counting
    against the task's retries) or fail them. Safe to run in many processes at once:
    each attempt is ended by exactly one of them. Returns how many were reaped."""
    with svc.db.write() as conn:
        expired = claim_store.expired_attempts(svc.db, conn, limit)
        reaped = 0
        charged: set[str] = set()
        for claim, batch in sorted(expired, key=lambda e: e[0].attempt_id):
            if batch is not None and batch in charged:
                # Another attempt of the same batch (a worker runs quick attempts one
                # after another): at most one of them was running when the worker died;
                # the first one pays the retry, the others go back without using one.
                reaped += _release_one(svc, conn, claim, LOST_IN_BATCH)
                continue
            if batch is not None:
                charged.add(batch)
            lost = Failure(
                AttemptState.LOST,
                "LeaseExpired",
                "the worker stopped renewing its lease (it died, hung or lost the database)",
            )
            reaped += _fail(svc, conn, claim, lost)
    if reaped:
        svc.notify()
    return reaped


def release_attempts(svc: Services, claims: Sequence[Claim]) -> int:
    """Give attempts back (a worker shutting down): each ends `cancelled` and its task
    run is ready again at once, without using up one of its retries."""
    with svc.db.write() as conn:
        released = sum(_release_one(svc, conn, claim, RELEASED) for claim in claims)
    svc.notify()
    return released


RELEASED = (AttemptState.CANCELLED, "Released", "released by a stopping worker")
LOST_IN_BATCH = (
    AttemptState.LOST,
    "LeaseExpired",
    "the worker stopped renewing its lease, holding this attempt in a batch of quick ones"
    " (it may not have started): retried without using a retry",
)


def _release_one(
    svc: Services, conn: Connection, claim: Claim, how: tuple[AttemptState, str, str]
) -> bool:
    """End the attempt as `how` says and make its task run ready again at once, without
    using up one of its retries. False if it was not running."""
    state, error_type, message = how
    now = svc.db.clock(conn)
    if not run_store.finish_attempt(
        conn, claim.attempt_id, state, now, error_type=error_type, error_message=message
    ):
        return False
    claim_store.release_for_retry(conn, claim.task_run_id)
    run_store.transition_task_run(conn, claim.task_run_id, TaskRunState.READY, available_at=0.0)
    claim_store.notify_ready(svc.db, conn)
    return True


def _plan_and_run(svc: Services, conn: Any, run_id: str) -> Any:
    run = svc.runs.get(conn, run_id)
    return svc.plans.get(conn, run.version_id), run
