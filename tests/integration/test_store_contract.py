"""The queue store's contract, run once on SQLite and once on PostgreSQL.

Claiming (`store.claims` through `services.attempts`), leases, fenced results, retries
with backoff, and how results move a run to its end. Specs are built directly as
`PipelineSpec` models: the store never needs a task's code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from headwater.config import Settings
from headwater.domain.spec import Backoff, NodeSpec, PipelineSpec, TaskDef
from headwater.domain.states import AttemptState, RunState, TaskRunState
from headwater.errors import StaleLease
from headwater.services.attempts import (
    ClaimRequest,
    Failure,
    Success,
    claim_work,
    reap_expired_leases,
    record_failure,
    record_results,
    record_success,
    renew_leases,
)
from headwater.services.context import Services, open_services
from headwater.services.runs import RunView, cancel_run, get_run_view, register_pipeline, start_run
from headwater.store.claims import Claim
from headwater.store.tables import attempts, task_runs

LEASE_SECONDS = 30.0
NO_BACKOFF = Backoff(base_seconds=0, jitter=False)


def _task(name: str = "t", **options: Any) -> TaskDef:
    return TaskDef(name=name, params_schema={"type": "object", "properties": {}}, **options)


def _spec(name: str, nodes: Sequence[NodeSpec], *tasks: TaskDef) -> PipelineSpec:
    return PipelineSpec(
        name=name, tasks={t.name: t for t in (tasks or (_task(),))}, nodes=tuple(nodes)
    )


def _node(node_id: str, task: str = "t", after: Sequence[str] = ()) -> NodeSpec:
    return NodeSpec(id=node_id, task=task, after=tuple(after))


def _start(svc: Services, spec: PipelineSpec, priority: int = 0) -> str:
    register_pipeline(svc, spec)
    return start_run(svc, spec.name, priority=priority)


def _claim(
    svc: Services,
    limit: int = 10,
    *,
    run_id: str | None = None,
    queues: Sequence[str] | None = None,
    lease_seconds: float = LEASE_SECONDS,
) -> list[Claim]:
    return claim_work(
        svc, worker_id="w", limit=limit, lease_seconds=lease_seconds, queues=queues, run_id=run_id
    )


def _succeed(svc: Services, claim: Claim) -> None:
    record_success(svc, claim, Success(f'"{claim.node_id}"', f"key-{claim.task_run_id}", "{}"))


def _fail(svc: Services, claim: Claim) -> None:
    record_failure(svc, claim, Failure(AttemptState.FAILED, "ValueError", "boom", "Traceback..."))


def _states(view: RunView) -> dict[str, TaskRunState]:
    return {tr.label: tr.state for tr in view.task_runs}


def _db_now(svc: Services) -> float:
    """The database clock as the store defines it (Database.clock): PostgreSQL's
    clock_timestamp(); for SQLite, the one system clock of the machine the file is on."""
    with svc.db.read() as conn:
        return svc.db.clock(conn)


# -- claiming -----------------------------------------------------------------------


def test_claim_returns_only_ready_task_runs(services: Services) -> None:
    spec = _spec("chain_and_loose", [_node("a"), _node("b", after=["a"]), _node("c")])
    run_id = _start(services, spec)

    claims = _claim(services, run_id=run_id)

    assert sorted(c.node_id for c in claims) == ["a", "c"]  # b waits for a
    assert all(c.run_id == run_id and c.number == 1 for c in claims)
    states = _states(get_run_view(services, run_id))
    assert states == {"a": "running", "b": "pending", "c": "running"}
    assert _claim(services, run_id=run_id) == []


def test_claim_takes_at_most_limit_oldest_first(services: Services) -> None:
    run_id = _start(services, _spec("five", [_node(f"n{i}") for i in range(5)]))

    first = _claim(services, limit=2, run_id=run_id)
    second = _claim(services, limit=2, run_id=run_id)
    third = _claim(services, limit=2, run_id=run_id)

    assert [c.node_id for c in first] == ["n0", "n1"]
    assert [c.node_id for c in second] == ["n2", "n3"]
    assert [c.node_id for c in third] == ["n4"]
    ids = [c.task_run_id for c in first + second + third]
    assert len(set(ids)) == 5
    assert _claim(services, limit=0, run_id=run_id) == []


def test_claim_takes_highest_priority_first_then_oldest(services: Services) -> None:
    low = _start(services, _spec("low", [_node("x")]), priority=0)
    high_old = _start(services, _spec("high_old", [_node("x")]), priority=5)
    high_new = _start(services, _spec("high_new", [_node("x")]), priority=5)
    mid = _start(services, _spec("mid", [_node("x")]), priority=2)

    order = [_claim(services, limit=1)[0].run_id for _ in range(4)]

    assert order == [high_old, high_new, mid, low]
    assert _claim(services, limit=1) == []


def test_claim_with_a_limit_picks_the_highest_priorities(services: Services) -> None:
    low = _start(services, _spec("low2", [_node("x"), _node("y")]), priority=0)
    high = _start(services, _spec("high2", [_node("x"), _node("y")]), priority=9)

    claims = _claim(services, limit=2)

    assert {c.run_id for c in claims} == {high}
    assert {c.run_id for c in _claim(services, limit=5)} == {low}


def test_claim_only_from_the_given_queues(services: Services) -> None:
    spec = _spec(
        "queues",
        [_node("fast1", "fast"), _node("slow1", "slow"), _node("fast2", "fast")],
        _task("fast", queue="q-fast"),
        _task("slow", queue="q-slow"),
    )
    run_id = _start(services, spec)

    assert _claim(services, queues=["q-missing"]) == []
    slow = _claim(services, queues=["q-slow"])
    fast = _claim(services, queues=["q-fast", "q-missing"])

    assert [c.node_id for c in slow] == ["slow1"]
    assert sorted(c.node_id for c in fast) == ["fast1", "fast2"]
    assert all(c.run_id == run_id for c in slow + fast)


def test_claim_only_from_the_given_run(services: Services) -> None:
    spec = _spec("two_runs", [_node("a"), _node("b")])
    first = _start(services, spec)
    second = _start(services, spec)

    claims = _claim(services, run_id=second)

    assert {c.run_id for c in claims} == {second}
    assert len(claims) == 2
    assert _claim(services, run_id=second) == []
    assert {c.run_id for c in _claim(services)} == {first}


def test_attempt_number_grows_with_each_claim(services: Services) -> None:
    spec = _spec("retrying", [_node("a")], _task(retries=2, backoff=NO_BACKOFF))
    run_id = _start(services, spec)

    numbers = []
    for _ in range(3):
        (claim,) = _claim(services, run_id=run_id)
        numbers.append((claim.number, claim.max_attempts))
        _fail(services, claim)

    assert numbers == [(1, 3), (2, 3), (3, 3)]
    view = get_run_view(services, run_id)
    assert [a.number for a in view.attempts] == [1, 2, 3]
    assert len({a.id for a in view.attempts}) == 3
    assert view.task_runs[0].attempts == 3
    assert view.task_runs[0].state == TaskRunState.FAILED
    assert view.run.state == RunState.FAILED


# -- leases -------------------------------------------------------------------------


def test_lease_until_comes_from_the_database_clock(services: Services) -> None:
    run_id = _start(services, _spec("leased", [_node("a")]))

    before = _db_now(services)
    (claim,) = _claim(services, run_id=run_id, lease_seconds=100.0)
    after = _db_now(services)

    assert before + 100.0 <= claim.lease_until <= after + 100.0
    with services.db.read() as conn:
        stored = conn.execute(
            sa.select(attempts.c.lease_until, attempts.c.started_at).where(
                attempts.c.id == claim.attempt_id
            )
        ).one()
    assert stored.lease_until == pytest.approx(claim.lease_until)
    assert before <= stored.started_at <= after


def test_renew_leases_extends_only_running_attempts(services: Services) -> None:
    run_id = _start(services, _spec("renewed", [_node("a"), _node("b")]))
    claim_a, claim_b = _claim(services, run_id=run_id, lease_seconds=5.0)

    before = _db_now(services)
    live = renew_leases(services, [claim_a.attempt_id, claim_b.attempt_id, 999_999], 500.0)

    assert live == {claim_a.attempt_id, claim_b.attempt_id}
    with services.db.read() as conn:
        leases = dict(
            conn.execute(
                sa.select(attempts.c.id, attempts.c.lease_until).where(attempts.c.run_id == run_id)
            ).all()
        )
    assert all(lease >= before + 500.0 for lease in leases.values())

    _succeed(services, claim_a)
    assert renew_leases(services, [claim_a.attempt_id, claim_b.attempt_id], 500.0) == {
        claim_b.attempt_id
    }
    assert renew_leases(services, [], 500.0) == set()


# -- fenced results -----------------------------------------------------------------


def test_a_result_after_cancel_raises_stale_lease_and_changes_nothing(
    services: Services,
) -> None:
    run_id = _start(services, _spec("cancelled", [_node("a"), _node("b", after=["a"])]))
    (claim,) = _claim(services, run_id=run_id)
    assert cancel_run(services, run_id)
    before = get_run_view(services, run_id)

    with pytest.raises(StaleLease):
        _succeed(services, claim)
    with pytest.raises(StaleLease):
        _fail(services, claim)

    after = get_run_view(services, run_id)
    assert after == before
    assert after.run.state == RunState.CANCELLED
    assert _states(after) == {"a": "cancelled", "b": "cancelled"}
    (attempt,) = after.attempts
    assert attempt.state == AttemptState.CANCELLED
    assert attempt.error_type is None
    assert after.task_runs[0].output is None
    assert renew_leases(services, [claim.attempt_id], 10.0) == set()
    assert _claim(services) == []


def test_a_second_result_for_the_same_attempt_is_refused(services: Services) -> None:
    run_id = _start(services, _spec("twice", [_node("a"), _node("b")]))
    claim, _ = _claim(services, run_id=run_id)
    _succeed(services, claim)

    with pytest.raises(StaleLease):
        _fail(services, claim)

    assert _states(get_run_view(services, run_id))["a"] == "succeeded"


# -- retries and failures -----------------------------------------------------------


def test_failure_with_retries_left_waits_for_its_backoff(services: Services) -> None:
    slow_retry = Backoff(base_seconds=3600, max_seconds=3600, jitter=False)
    run_id = _start(services, _spec("backoff", [_node("a")], _task(retries=1, backoff=slow_retry)))
    (claim,) = _claim(services, run_id=run_id)

    _fail(services, claim)

    view = get_run_view(services, run_id)
    assert view.task_runs[0].state == TaskRunState.READY
    assert view.run.state == RunState.RUNNING
    (attempt,) = view.attempts
    assert (attempt.state, attempt.error_type, attempt.error_message) == (
        "failed",
        "ValueError",
        "boom",
    )
    assert attempt.traceback == "Traceback..."
    with services.db.read() as conn:
        available_at = conn.execute(
            sa.select(task_runs.c.available_at).where(task_runs.c.id == claim.task_run_id)
        ).scalar_one()
    assert available_at >= _db_now(services) + 3000
    assert _claim(services) == []
    assert _claim(services, run_id=run_id) == []


def test_a_retry_becomes_claimable_once_its_backoff_has_passed(services: Services) -> None:
    short_retry = Backoff(base_seconds=0.3, jitter=False)
    run_id = _start(services, _spec("short", [_node("a")], _task(retries=1, backoff=short_retry)))
    (first,) = _claim(services, run_id=run_id)
    _fail(services, first)
    with services.db.read() as conn:
        available_at = conn.execute(
            sa.select(task_runs.c.available_at).where(task_runs.c.id == first.task_run_id)
        ).scalar_one()

    deadline = time.monotonic() + 10
    retried: list[Claim] = []
    while not retried and time.monotonic() < deadline:
        retried = _claim(services, run_id=run_id)
        time.sleep(0.02)

    (second,) = retried
    assert (second.task_run_id, second.number) == (first.task_run_id, 2)
    (_, attempt) = get_run_view(services, run_id).attempts
    assert attempt.started_at >= available_at


def test_failure_with_no_retries_left_fails_downstream_and_ends_the_run(
    services: Services,
) -> None:
    spec = _spec(
        "failing",
        [_node("a"), _node("b", after=["a"]), _node("c", after=["b"]), _node("d")],
    )
    run_id = _start(services, spec)
    claims = {c.node_id: c for c in _claim(services, run_id=run_id)}
    assert set(claims) == {"a", "d"}

    _fail(services, claims["a"])

    view = get_run_view(services, run_id)
    assert _states(view) == {
        "a": "failed",
        "b": "upstream_failed",
        "c": "upstream_failed",
        "d": "running",
    }
    assert view.run.state == RunState.RUNNING  # d is still running
    assert view.run.remaining == 1
    assert _claim(services, run_id=run_id) == []

    _succeed(services, claims["d"])

    view = get_run_view(services, run_id)
    assert view.run.state == RunState.FAILED
    assert view.run.remaining == 0
    assert view.run.ended_at is not None


def test_a_run_whose_task_runs_all_succeed_ends_succeeded(services: Services) -> None:
    spec = _spec("succeeding", [_node("a"), _node("b", after=["a"]), _node("c", after=["a"])])
    run_id = _start(services, spec)

    seen = []
    while claims := _claim(services, run_id=run_id):
        for claim in claims:
            seen.append(claim.node_id)
            _succeed(services, claim)

    assert seen[0] == "a"
    assert sorted(seen) == ["a", "b", "c"]
    view = get_run_view(services, run_id)
    assert view.run.state == RunState.SUCCEEDED
    assert view.run.remaining == 0
    assert set(_states(view).values()) == {TaskRunState.SUCCEEDED}
    assert view.task_runs[1].output == '"b"'


# -- concurrency --------------------------------------------------------------------


def test_concurrent_claimers_never_share_a_task_run(services: Services, settings: Settings) -> None:
    size, threads = 200, 4
    run_id = _start(services, _spec("wide", [_node(f"n{i}") for i in range(size)]))
    got: list[list[Claim]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def claimer(index: int) -> None:
        own = open_services(settings)
        try:
            start.wait()
            while claims := claim_work(
                own, worker_id=f"w{index}", limit=3, lease_seconds=LEASE_SECONDS, run_id=run_id
            ):
                got[index].extend(claims)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            own.close()

    workers = [threading.Thread(target=claimer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert errors == []
    claimed = [c.task_run_id for claims in got for c in claims]
    assert len(claimed) == size
    assert len(set(claimed)) == size
    assert len({c.attempt_id for claims in got for c in claims}) == size
    with services.db.read() as conn:
        per_task_run = conn.execute(
            sa.select(attempts.c.task_run_id, sa.func.count())
            .group_by(attempts.c.task_run_id)
            .having(sa.func.count() > 1)
        ).all()
    assert per_task_run == []
    assert set(_states(get_run_view(services, run_id)).values()) == {TaskRunState.RUNNING}


def test_a_dead_workers_batch_costs_one_retry_and_its_unstarted_attempts_none(
    services: Services,
) -> None:
    """A worker runs a batch of quick attempts one after another; if it dies, at most
    one of them was running: that one is lost (and with no retries left, fails); the
    rest go back to ready without using a retry. Attempts claimed side by side (for
    separate threads) are each charged, as before."""
    run_id = _start(services, _spec("batched", [_node(n) for n in "abcde"]))
    with services.db.write() as conn:
        batch = ClaimRequest("w", 0.01, run_id=run_id).claim(services, conn, 3, batch=True)
    side_by_side = _claim(services, run_id=run_id, lease_seconds=0.01)
    time.sleep(0.05)

    assert reap_expired_leases(services) == 5

    states = _states(get_run_view(services, run_id))
    assert [states[c.node_id] for c in batch] == [
        TaskRunState.FAILED,
        TaskRunState.READY,
        TaskRunState.READY,
    ]
    assert {states[c.node_id] for c in side_by_side} == {TaskRunState.FAILED}


def test_a_batch_of_mixed_outcomes_records_each_as_its_own(services: Services) -> None:
    # Successes, a cache hit and a failure in one transaction: each kind is written by
    # its own statement, with every row locked first in id order (PostgreSQL).
    spec = _spec("mixed", [_node("a"), _node("b"), _node("c"), _node("d")])
    run_id = _start(services, spec)
    by_node = {claim.node_id: claim for claim in _claim(services, run_id=run_id)}
    assert set(by_node) == {"a", "b", "c", "d"}

    recorded = record_results(
        services,
        [
            (by_node["a"], Success('"a"', "key-a", "{}")),
            (by_node["b"], Failure(AttemptState.FAILED, "ValueError", "boom", retryable=False)),
            (by_node["c"], Success('"c"', "key-c", "{}", cached=True)),
            (by_node["d"], Success('"d"', "key-d", "{}")),
        ],
    )

    assert recorded.refused == []
    view = get_run_view(services, run_id)
    assert _states(view) == {
        "a": TaskRunState.SUCCEEDED,
        "b": TaskRunState.FAILED,
        "c": TaskRunState.CACHED,
        "d": TaskRunState.SUCCEEDED,
    }
    assert view.run.state == RunState.FAILED
