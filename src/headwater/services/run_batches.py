"""Group commit of run creation: one writer per process creates, in one transaction,
the runs that concurrent callers ask for.

A trigger on its own is a short write transaction, and a database takes one writer at a
time (SQLite entirely; PostgreSQL on the shared rows): concurrent triggers used to queue
for the lock, each paying for its own transaction. Here callers hand their requests to
the process's run writer; while it commits one batch, the next one gathers.

A synchronous caller that finds no writer thread yet (a `headwater run`) writes its own
run in its thread, through the same code. Every caller still gets its own answer: its
run id, or its own error. A request that is invalid, names no pipeline, or reuses an
idempotency key with another request fails alone, before anything of it is written. A
database error fails the batch it hit: each of its callers gets it (StoreUnavailable: a
503 from the API), and the writer carries on with the next batch. Callers are answered
only after the commit, so a run can be read as soon as its id is known; in-process
workers are woken once per batch.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.domain.canonical import sha256_hex
from headwater.domain.records import NamedTuple
from headwater.domain.states import RUN_INITIAL, TASK_RUN_INITIAL, RunState, TaskRunState
from headwater.errors import (
    Conflict,
    Contended,
    HeadwaterError,
    NotFound,
    StoreUnavailable,
    ValidationError,
)
from headwater.logs import get_logger
from headwater.services.context import Services
from headwater.services.plans import Plan
from headwater.services.runs import PreparedRun, new_run_id, prepare_run, write_run
from headwater.store import claims as claim_store
from headwater.store import runs as run_store
from headwater.store.pipelines import PipelineRow
from headwater.store.sql import is_database_error

if TYPE_CHECKING:
    from concurrent.futures import Future

    from sqlalchemy.engine import Connection

log = get_logger(__name__)

# Enough to amortise a transaction, small enough that one batch never holds the write
# lock for long (a run of a small pipeline costs a few tens of microseconds here).
MAX_BATCH_RUNS = 256
# Another process took an idempotency key between our look-up and our insert
# (PostgreSQL), or the database broke a deadlock: the batch is written again.
BATCH_TRIES = 3

Outcome = str | HeadwaterError
Item = tuple[dict[str, Any], str | None]  # (run request, idempotency key)

_STARTED = RunState.RUNNING.value
_READY, _PENDING = TaskRunState.READY.value, TaskRunState.PENDING.value
# DESIGN rule 2: rows are created only in the states the transition table allows.
assert RunState(_STARTED) in RUN_INITIAL
assert {TaskRunState(_READY), TaskRunState(_PENDING)} <= TASK_RUN_INITIAL


def run_writer(svc: Services) -> RunWriter:
    """The run writer of `svc` (started on first use, stopped by `svc.close()`)."""
    writer = svc.run_writer
    if writer is None:
        with _CREATING:
            writer = svc.run_writer
            if writer is None:
                writer = svc.run_writer = RunWriter(svc)
    assert isinstance(writer, RunWriter)
    return writer


_CREATING = threading.Lock()


class _Answer:
    """The run id (or the error) for a caller waiting in its thread: the part of
    `concurrent.futures.Future` that `start` used, without importing concurrent.futures,
    which loads logging (`headwater run` waits here)."""

    __slots__ = ("_done", "_error", "_run_id")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._run_id = ""
        self._error: BaseException | None = None

    def set_running_or_notify_cancel(self) -> bool:
        return True  # a waiting thread cannot withdraw

    def set_result(self, run_id: str) -> None:
        self._run_id = run_id
        self._done.set()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def result(self) -> str:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._run_id


class _Waiting(NamedTuple):
    """A caller's request for a run, waiting for the run's id."""

    request: dict[str, Any]
    key: str | None
    future: Future[str] | _Answer


class RunWriter:
    """A thread that creates runs for callers, many per transaction."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._stopped = False
        self._fresh()

    def _fresh(self) -> None:
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the writer thread waits on it for work
        self._here = threading.Condition(lock)  # stop() waits on it for a caller's own write
        self._queue: list[_Waiting] = []
        self._thread: threading.Thread | None = None
        self._writing_here = False  # a caller is writing its own run (start)
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child: the writer thread (and a lock
            self._fresh()  # another thread held) stayed behind in the parent

    def _submit(self, waiting: _Waiting) -> None:
        """Queue a run request; its future gives its run id once it is committed."""
        self._after_fork()
        with self._cond:
            if self._stopped:
                raise StoreUnavailable("the services are closed: no runs can be started")
            self._queue.append(waiting)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="hw-run-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def start(self, request: dict[str, Any], idempotency_key: str | None = None) -> str:
        """Create a run (or find the one its idempotency key started); its id.

        A caller that finds the writer thread not yet needed writes its run itself, in
        its own thread, the same way: a lone `headwater run` starts no thread (and opens
        no connection) for it. Callers that come meanwhile start the thread."""
        answer = _Answer()
        waiting = _Waiting(request, idempotency_key, answer)
        self._after_fork()
        with self._cond:
            alone = self._thread is None and not self._writing_here and not self._stopped
            self._writing_here = self._writing_here or alone
        if alone:
            try:
                self._write([waiting])
            finally:
                with self._cond:
                    self._writing_here = False
                    self._here.notify_all()
        else:
            self._submit(waiting)
        return answer.result()

    async def start_async(self, request: dict[str, Any], idempotency_key: str | None = None) -> str:
        """`start` for an event loop: waits without holding a thread."""
        import asyncio  # only the API awaits; `headwater run` need not load asyncio
        from concurrent.futures import Future

        future: Future[str] = Future()
        self._submit(_Waiting(request, idempotency_key, future))
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        """Answer what is queued, then end the thread (and wait for a caller writing its
        own run: the database may be closed next)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
            self._here.wait_for(lambda: not self._writing_here)
            thread = self._thread
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue[:MAX_BATCH_RUNS]
                del self._queue[:MAX_BATCH_RUNS]
            # A caller that gave up (an async request cancelled) is dropped here; the
            # others can no longer be cancelled: their runs are about to exist.
            batch = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            outcomes, ready = _write_batch(self._svc, [(w.request, w.key) for w in batch])
        except HeadwaterError as exc:
            for waiting in batch:
                waiting.future.set_exception(exc)
            return
        except Exception as exc:  # a bug must not stop the writer thread
            log.exception("creating a batch of %d runs failed", len(batch))
            for waiting in batch:
                waiting.future.set_exception(exc)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, str):
                waiting.future.set_result(outcome)
            else:
                waiting.future.set_exception(outcome)
        if ready:
            try:
                self._svc.notify()
            except Exception:  # a listener's bug must not stop the writer thread
                log.exception("waking in-process workers failed")


def _write_batch(svc: Services, items: Sequence[Item]) -> tuple[list[Outcome], bool]:
    """Create the runs of `items` in one transaction: (an outcome per item, whether work
    was made ready)."""
    for attempt in range(BATCH_TRIES):
        try:
            with svc.db.write() as conn:
                outcomes = create_runs(svc, conn, items)
                ready = claim_store.made_ready(conn) > 0
            return outcomes, ready
        except (run_store.DuplicateIdempotencyKey, Contended):
            if attempt == BATCH_TRIES - 1:
                raise
        except Exception as exc:
            if not is_database_error(exc):
                raise
            raise StoreUnavailable(f"could not create the runs: {exc}") from exc
    raise AssertionError("unreachable")


def create_runs(svc: Services, conn: Connection, items: Sequence[Item]) -> list[Outcome]:
    """Create the runs of `items` inside the caller's write transaction: a run id, or the
    error of a request that was refused before anything of it was written, per item.

    The same idempotency key twice gives one run, even within one batch; the caller
    calls `svc.notify()` after committing if `made_ready` says so."""
    now = svc.db.clock(conn)
    keys = {key for _, key in items if key is not None}
    started = run_store.find_runs_by_keys(conn, keys) if keys else {}
    pipelines: dict[str, PipelineRow] = {}
    rows = _NewRows()
    outcomes: list[Outcome] = []
    for request, key in items:
        digest = sha256_hex(request) if key is not None else None
        try:
            found = _started_with(key, digest, started)
            if found is not None:
                outcomes.append(found)
                continue
            prepared = prepare_run(svc, conn, request, now, pipelines)
        except (ValidationError, NotFound, Conflict) as exc:
            outcomes.append(exc)
            continue
        if _is_simple(request, prepared):
            run_id = rows.add(request, prepared, key, digest)
        else:
            rows.flush(conn)  # what it reads (a resumed run's rows) may be in this batch
            run_id = write_run(svc, conn, request, prepared, idempotency_key=key)
        if key is not None:
            assert digest is not None
            started[key] = (run_id, digest)
        outcomes.append(run_id)
    ready = rows.ready
    rows.flush(conn)
    if ready:
        claim_store.notify_ready(svc.db, conn)
    return outcomes


def _started_with(
    key: str | None, digest: str | None, started: dict[str, tuple[str, str]]
) -> str | None:
    """The run already started with this key for this request; Conflict if the key was
    used for another request."""
    if key is None or key not in started:
        return None
    run_id, known = started[key]
    if known != digest:
        raise Conflict(f"idempotency key {key!r} was used for a different request (run {run_id})")
    return run_id


def _is_simple(request: dict[str, Any], prepared: PreparedRun) -> bool:
    """A new run whose first task runs are simply ready: no resumed run to reuse, no
    map node among its roots (which would expand at once)."""
    plan = prepared.plan
    return (
        not request.get("resume_from")
        and bool(plan.spec.nodes)
        and all(plan.spec.node_map[n].map is None for n in plan.graph.roots())
    )


class _NewRows:
    """Rows of simple new runs, written with two statements for the lot."""

    __slots__ = ("_templates", "ready", "runs", "task_runs")

    def __init__(self) -> None:
        self.runs: list[tuple[Any, ...]] = []
        self.task_runs: list[tuple[Any, ...]] = []
        self.ready = False
        self._templates: dict[int, list[tuple[Any, ...]]] = {}

    def add(
        self, request: dict[str, Any], prepared: PreparedRun, key: str | None, digest: str | None
    ) -> str:
        plan, now, start_at = prepared.plan, prepared.now, prepared.start_at
        run_id, priority = new_run_id(), request["priority"]
        self.runs.append(
            (
                run_id,
                request["pipeline"],
                plan.version_id,
                _STARTED,
                json.dumps(request["args"]),
                json.dumps(request["task_args"]),
                request["force"],
                None,  # resumed_from
                priority,
                json.dumps(request["tags"]),
                len(plan.spec.nodes),  # remaining
                now,
                key,
                digest,
                start_at,
                prepared.expires_at,
                None,  # schedule
                None,  # backfill_id
                None,  # logical_date
            )
        )
        # As `advance` would leave them: roots ready (claimable from the start time),
        # the rest pending on their upstream nodes.
        ready_at = start_at or 0.0
        pending_at = start_at if start_at is not None else now
        for node_id, task, queue, waiting_on, is_map, max_attempts, limits in self._template(plan):
            self.task_runs.append(
                (
                    run_id,
                    node_id,
                    -1,
                    task,
                    _PENDING if waiting_on else _READY,
                    queue,
                    priority,
                    pending_at if waiting_on else ready_at,
                    waiting_on,
                    is_map,
                    max_attempts,
                    now,
                    limits,
                )
            )
        self.ready = True
        return run_id

    def _template(self, plan: Plan) -> list[tuple[Any, ...]]:
        """What a plan's task-run rows share, whatever the run."""
        found = self._templates.get(plan.version_id)
        if found is None:
            spec = plan.spec
            found = self._templates[plan.version_id] = [
                (
                    node.id,
                    node.task,
                    spec.tasks[node.task].queue,
                    len(plan.graph.upstream[node.id]),
                    node.map is not None,
                    spec.tasks[node.task].retries + 1,
                    plan.limit_keys[node.id],
                )
                for node in spec.nodes
            ]
        return found

    def flush(self, conn: Connection) -> None:
        run_store.insert_new_runs(conn, self.runs, self.task_runs)
        self.runs, self.task_runs = [], []


__all__ = ["MAX_BATCH_RUNS", "RunWriter", "create_runs", "run_writer"]
