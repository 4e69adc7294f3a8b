"""The queue's state machine under random operations, on both backends.

Hypothesis drives the services a worker fleet uses (start runs, claim, heartbeat,
complete, fail, let leases expire and reap them, release attempts as a stopping worker
does, cancel runs, and send late results for attempts that have already ended) and
checks, after every step, what a user of the queue relies on: one running attempt per
task run at most, terminal states that never change, attempt numbers 1..n that only
grow, a `remaining` counter that matches the task runs still open, downstream work
made ready (or skipped) by the transaction that finished its upstream, and runs that
end exactly when nothing is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis
import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from headwater.config import Settings
from headwater.domain.spec import Backoff, NodeSpec, PipelineSpec, TaskDef
from headwater.domain.states import (
    ATTEMPT_TERMINAL,
    RUN_TERMINAL,
    TASK_RUN_OK,
    TASK_RUN_TERMINAL,
    AttemptState,
    RunState,
    TaskRunState,
)
from headwater.errors import StaleLease
from headwater.services import attempts as attempt_service
from headwater.services import runs as run_service
from headwater.services import workers as worker_service
from headwater.services.attempts import Failure, Success
from headwater.services.context import Services, open_services
from headwater.store.claims import Claim
from headwater.store.tables import attempts, runs, task_runs

LEASE_SECONDS = 30.0
MAX_RUNS = 3  # per example: more would leave most steps starting runs, few finishing them
WORKER = "state-machine-worker"
INDEPENDENT = ("a", "b", "c", "d")
DOWNSTREAM = "e"
DOWNSTREAM_AFTER = ("a", "b")
NO_WAIT = Backoff(base_seconds=0, jitter=False)
RETRIES = st.tuples(*[st.integers(0, 2)] * (len(INDEPENDENT) + 1))
OK = Success(output_json="1", cache_key="k" * 64, args_json="{}")
BOOM = Failure(AttemptState.FAILED, "Boom", "the task raised", retryable=True)


def pipeline_spec(retries: tuple[int, ...]) -> PipelineSpec:
    """Four independent nodes and one downstream of two of them; node i's task retries
    `retries[i]` times, with no backoff so that a retry is claimable at once."""
    node_ids = (*INDEPENDENT, DOWNSTREAM)
    name = "queue_sm_" + "".join(map(str, retries))
    tasks = {
        f"t_{node}": TaskDef(name=f"t_{node}", retries=n, backoff=NO_WAIT)
        for node, n in zip(node_ids, retries, strict=True)
    }
    nodes = [NodeSpec(id=node, task=f"t_{node}") for node in INDEPENDENT]
    nodes.append(NodeSpec(id=DOWNSTREAM, task=f"t_{DOWNSTREAM}", after=DOWNSTREAM_AFTER))
    return PipelineSpec(name=name, tasks=tasks, nodes=tuple(nodes))


class QueueMachine(RuleBasedStateMachine):
    svc: Services  # set by `machine_for` before Hypothesis builds instances

    def __init__(self) -> None:
        super().__init__()
        self.run_ids: list[str] = []
        self.cancelled = False
        self.held: dict[int, Claim] = {}  # attempt id -> claim whose attempt is running
        self.ended: dict[int, Claim] = {}  # attempt id -> claim whose attempt has ended
        self.terminal_seen: dict[tuple[str, Any], str] = {}
        self.attempt_numbers: dict[int, tuple[int, int]] = {}  # id -> (task run, number)

    # -- reading the tables -----------------------------------------------------------

    def _rows(self) -> tuple[list[Any], list[Any], list[Any]]:
        if not self.run_ids:
            return [], [], []
        with self.svc.db.read() as conn:
            run_rows = conn.execute(
                sa.select(runs).where(runs.c.id.in_(self.run_ids)).order_by(runs.c.id)
            ).all()
            tr_rows = conn.execute(
                sa.select(task_runs)
                .where(task_runs.c.run_id.in_(self.run_ids))
                .order_by(task_runs.c.id)
            ).all()
            attempt_rows = conn.execute(
                sa.select(attempts)
                .where(attempts.c.run_id.in_(self.run_ids))
                .order_by(attempts.c.id)
            ).all()
        return run_rows, tr_rows, attempt_rows

    def _snapshot(self) -> tuple[list[tuple[Any, ...]], ...]:
        return tuple([tuple(row) for row in rows] for rows in self._rows())

    def _task_run(self, task_run_id: int) -> Any:
        with self.svc.db.read() as conn:
            return conn.execute(sa.select(task_runs).where(task_runs.c.id == task_run_id)).one()

    def _attempt_state(self, attempt_id: int) -> str:
        with self.svc.db.read() as conn:
            return str(
                conn.execute(
                    sa.select(attempts.c.state).where(attempts.c.id == attempt_id)
                ).scalar_one()
            )

    def _claimable(self) -> int:
        """Ready task runs anywhere in the database whose backoff has passed."""
        with self.svc.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(task_runs)
                    .where(
                        task_runs.c.state == TaskRunState.READY.value,
                        task_runs.c.available_at <= self.svc.db.now(),
                    )
                ).scalar_one()
            )

    def _end(self, attempt_id: int) -> Claim:
        claim = self.held.pop(attempt_id)
        self.ended[attempt_id] = claim
        return claim

    # -- rules ------------------------------------------------------------------------

    @initialize(retries=RETRIES)
    def first_run(self, retries: tuple[int, ...]) -> None:
        self.start_run(retries)

    @precondition(lambda self: len(self.run_ids) < MAX_RUNS)
    @rule(retries=RETRIES)
    def another_run(self, retries: tuple[int, ...]) -> None:
        self.start_run(retries)

    def start_run(self, retries: tuple[int, ...]) -> None:
        spec = pipeline_spec(retries)
        run_service.register_pipeline(self.svc, spec)
        self.run_ids.append(run_service.start_run(self.svc, spec.name))

    @rule(limit=st.integers(1, 6))
    def claim(self, limit: int) -> None:
        claimable = self._claimable()
        claims = attempt_service.claim_work(
            self.svc, worker_id=WORKER, limit=limit, lease_seconds=LEASE_SECONDS
        )
        assert len(claims) == min(limit, claimable), (limit, claimable, claims)
        for claim in claims:
            assert claim.attempt_id not in self.held
            assert claim.run_id in self.run_ids, claim
            self.held[claim.attempt_id] = claim

    @rule(data=st.data(), through_worker=st.booleans())
    def heartbeat(self, data: st.DataObject, through_worker: bool) -> None:
        held = data.draw(st.sets(st.sampled_from(sorted(self.held)))) if self.held else set()
        stale = data.draw(st.sets(st.sampled_from(sorted(self.ended)))) if self.ended else set()
        ids = sorted(held | stale)
        if not ids and self.held:
            ids = sorted(self.held)[:1]
        if through_worker:
            live = worker_service.heartbeat(self.svc, WORKER, ids, LEASE_SECONDS)
        else:
            live = attempt_service.renew_leases(self.svc, ids, LEASE_SECONDS)
        # Every held lease is renewed; an ended attempt's lease is refused.
        assert live == set(ids) & set(self.held), (ids, live)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from(sorted(self.held)), min_size=1))
        for attempt_id in sorted(chosen):
            claim = self._end(attempt_id)
            attempt_service.record_success(self.svc, claim, OK)
            assert self._attempt_state(claim.attempt_id) == AttemptState.SUCCEEDED.value
            assert self._task_run(claim.task_run_id).state == TaskRunState.SUCCEEDED.value

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), lost=st.booleans())
    def fail(self, data: st.DataObject, lost: bool) -> None:
        """The attempt fails (the task raised), or its worker goes silent: the lease
        expires and a reaper ends the attempt as lost. Either way it is retried."""
        claim = self._end(data.draw(st.sampled_from(sorted(self.held))))
        if lost:
            with self.svc.db.write() as conn:
                conn.execute(
                    attempts.update().where(attempts.c.id == claim.attempt_id).values(lease_until=0)
                )
            assert attempt_service.reap_expired_leases(self.svc) == 1
        else:
            attempt_service.record_failure(self.svc, claim, BOOM)
        expected = AttemptState.LOST if lost else AttemptState.FAILED
        assert self._attempt_state(claim.attempt_id) == expected.value
        row = self._task_run(claim.task_run_id)
        if claim.number < claim.max_attempts:
            assert row.state == TaskRunState.READY.value, (claim, row)
        else:
            assert row.state == TaskRunState.FAILED.value, (claim, row)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """A stopping worker gives attempts back: ready again, without using a retry."""
        chosen = data.draw(st.sets(st.sampled_from(sorted(self.held)), min_size=1))
        claims = [self._end(attempt_id) for attempt_id in sorted(chosen)]
        assert attempt_service.release_attempts(self.svc, claims) == len(claims)
        for claim in claims:
            assert self._attempt_state(claim.attempt_id) == AttemptState.CANCELLED.value
            row = self._task_run(claim.task_run_id)
            assert row.state == TaskRunState.READY.value, (claim, row)
            assert row.max_attempts == claim.max_attempts + 1, (claim, row)

    # One cancel per example (more would end most runs before they could finish), while
    # attempts are held, so that cancelling has running attempts to stop.
    @precondition(lambda self: bool(self.held) and not self.cancelled)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        run_id = data.draw(st.sampled_from(self.run_ids))
        self.cancelled = True
        with self.svc.db.read() as conn:
            before = conn.execute(sa.select(runs.c.state).where(runs.c.id == run_id)).scalar_one()
        cancelled = run_service.cancel_run(self.svc, run_id)
        assert cancelled == (before == RunState.RUNNING.value), (before, cancelled)
        for attempt_id, claim in list(self.held.items()):
            if claim.run_id == run_id:
                assert cancelled
                self._end(attempt_id)
                assert self._attempt_state(attempt_id) == AttemptState.CANCELLED.value

    @precondition(lambda self: bool(self.ended))
    @rule(data=st.data(), success=st.booleans())
    def late_result(self, data: st.DataObject, success: bool) -> None:
        claim = self.ended[data.draw(st.sampled_from(sorted(self.ended)))]
        before = self._snapshot()
        try:
            if success:
                attempt_service.record_success(self.svc, claim, OK)
            else:
                attempt_service.record_failure(self.svc, claim, BOOM)
        except StaleLease:
            pass
        else:
            raise AssertionError(f"a late result for ended attempt {claim} was accepted")
        assert self._snapshot() == before

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def tables_are_consistent(self) -> None:
        run_rows, tr_rows, attempt_rows = self._rows()
        self._check_terminal_states_never_change(run_rows, tr_rows, attempt_rows)
        by_task_run: dict[int, list[Any]] = {row.id: [] for row in tr_rows}
        for attempt in attempt_rows:
            by_task_run[attempt.task_run_id].append(attempt)
            seen = self.attempt_numbers.setdefault(
                attempt.id, (attempt.task_run_id, attempt.number)
            )
            assert seen == (attempt.task_run_id, attempt.number), attempt
        held_by_task_run = {claim.task_run_id: a for a, claim in self.held.items()}
        for row in tr_rows:
            self._check_task_run(row, by_task_run[row.id], held_by_task_run.get(row.id))
        for run in run_rows:
            self._check_run(run, [row for row in tr_rows if row.run_id == run.id])

    def _check_terminal_states_never_change(
        self, run_rows: list[Any], tr_rows: list[Any], attempt_rows: list[Any]
    ) -> None:
        for table, rows, terminal in (
            ("run", run_rows, RUN_TERMINAL),
            ("task_run", tr_rows, TASK_RUN_TERMINAL),
            ("attempt", attempt_rows, ATTEMPT_TERMINAL),
        ):
            current = {(table, row.id): row.state for row in rows}
            for key, state in self.terminal_seen.items():
                if key[0] == table:
                    assert current[key] == state, (key, state, current[key])
            for key, state in current.items():
                if state in terminal:
                    self.terminal_seen[key] = state

    def _check_task_run(self, row: Any, tries: list[Any], held_attempt: int | None) -> None:
        running = [a for a in tries if a.state == AttemptState.RUNNING.value]
        assert len(running) <= 1, (row, running)
        assert [a.number for a in tries] == list(range(1, len(tries) + 1)), (row, tries)
        assert row.attempts == len(tries) <= row.max_attempts, (row, tries)
        if row.state == TaskRunState.RUNNING.value:
            assert len(running) == 1, (row, tries)
            assert running[0].id == held_attempt, (row, running, held_attempt)
        else:
            assert not running, (row, running)
        if row.state == TaskRunState.PENDING.value:
            assert not tries, (row, tries)
        if row.state == TaskRunState.SUCCEEDED.value:
            assert tries[-1].state == AttemptState.SUCCEEDED.value, (row, tries)
        if row.state == TaskRunState.FAILED.value:
            # Every failure here is retryable: a task run fails only when out of attempts.
            assert len(tries) == row.max_attempts, (row, tries)
            assert all(a.state in ("failed", "lost") or _released(a) for a in tries), tries

    def _check_run(self, run: Any, rows: list[Any]) -> None:
        open_rows = [r for r in rows if r.state not in TASK_RUN_TERMINAL]
        if run.state == RunState.CANCELLED.value:
            assert not open_rows, (run, open_rows)
            return
        assert run.remaining == len(open_rows), (run, open_rows)
        self._check_downstream({r.node_id: r.state for r in rows})
        if run.state == RunState.RUNNING.value:
            assert run.remaining > 0, run
            return
        assert run.remaining == 0, run
        all_ok = all(r.state in TASK_RUN_OK for r in rows)
        expected = RunState.SUCCEEDED if all_ok else RunState.FAILED
        assert run.state == expected.value, (run, rows)

    @staticmethod
    def _check_downstream(states: dict[str, str]) -> None:
        """Completion moves the DAG on in the same transaction: the downstream node waits
        exactly while an upstream is unfinished, and is skipped once one has failed."""
        upstream = [states[n] for n in DOWNSTREAM_AFTER]
        failed = {TaskRunState.FAILED.value, TaskRunState.UPSTREAM_FAILED.value}
        if any(state in failed for state in upstream):
            assert states[DOWNSTREAM] == TaskRunState.UPSTREAM_FAILED.value, states
        elif all(state == TaskRunState.SUCCEEDED.value for state in upstream):
            assert states[DOWNSTREAM] != TaskRunState.PENDING.value, states
        else:
            assert states[DOWNSTREAM] == TaskRunState.PENDING.value, states

    def teardown(self) -> None:
        # Every example starts from an empty queue, so that replaying a failing example
        # sees the same database it saw the first time.
        with self.svc.db.write() as conn:
            for table in (attempts, task_runs, runs):
                conn.execute(table.delete())


def _released(attempt: Any) -> bool:
    return bool(attempt.state == AttemptState.CANCELLED.value and attempt.error_type == "Released")


def machine_for(svc: Services) -> type[QueueMachine]:
    return type("BoundQueueMachine", (QueueMachine,), {"svc": svc})


def test_queue_state_machine(database_url: str, tmp_path: Path) -> None:
    svc = open_services(
        Settings(
            project_dir=tmp_path,
            database_url=database_url,
            artifacts=str(tmp_path / "artifacts"),
            lease_seconds=LEASE_SECONDS,
            heartbeat_seconds=10,
        )
    )
    try:
        worker_service.register_worker(
            svc, worker_id=WORKER, host="test", pid=0, queues=[], concurrency=4
        )
        run_state_machine_as_test(
            machine_for(svc),
            settings=hypothesis.settings(
                max_examples=30,
                stateful_step_count=50,
                deadline=None,
                database=None,
                phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
                suppress_health_check=[hypothesis.HealthCheck.too_slow],
            ),
        )
    finally:
        svc.close()
