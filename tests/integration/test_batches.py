"""Quick attempts are claimed and recorded in batches; slow ones never wait in a batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.local import run_pipeline
from headwater.services.context import Services

CALLS: list[int] = []
REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @task
    def double(x: int) -> int:
        CALLS.append(x)
        return 2 * x

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @task
    def nap(i: int) -> int:
        time.sleep(0.3)
        return i

    @pipeline
    def doubled(n: int = 200):
        return total(double.map(numbers(n)))

    @pipeline
    def naps():
        return [nap(i) for i in range(8)]


@contextmanager
def counting_writes(svc: Services) -> Iterator[list[int]]:
    """Count the write transactions the store opens meanwhile."""
    count = [0]
    original = svc.db.write

    @contextmanager
    def write() -> Iterator[object]:
        count[0] += 1
        with original() as conn:
            yield conn

    svc.db.write = write  # type: ignore[method-assign]
    try:
        yield count
    finally:
        svc.db.write = original  # type: ignore[method-assign]


@pytest.fixture
def unhurried(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings under which no batch is cut short: "quick" is 5 ms of task time and a
    batch ends after a tenth of the lease, and on a loaded machine a no-op can take
    longer. For tests about what batches do, not about where those lines are."""
    from headwater.worker import worker as worker_module

    monkeypatch.setattr(worker_module, "QUICK_SECONDS", 1.0)
    monkeypatch.setattr(worker_module, "BATCH_SECONDS", 60.0)
    return settings.with_(lease_seconds=600.0)


def test_a_quick_fan_out_runs_each_element_once_in_far_fewer_transactions(
    services: Services, unhurried: Settings
) -> None:
    CALLS.clear()
    with counting_writes(services) as writes:
        result = run_pipeline(
            services, unhurried, doubled, args={"n": 200}, registry=REGISTRY, concurrency=1
        )

    assert result.state == "succeeded"
    assert result.output == 2 * sum(range(200))
    assert sorted(CALLS) == list(range(200))  # each element ran exactly once
    states = sorted((a.state.value, a.error_type or "") for a in result.view.attempts)
    assert {state for state, _ in states} == {"succeeded"}, states
    assert len(result.view.attempts) == 202
    # One transaction per task run would be 202 or more; batches of up to 64 need far fewer.
    assert writes[0] < 60


def test_slow_tasks_are_not_batched_and_run_side_by_side(
    services: Services, settings: Settings
) -> None:
    result = run_pipeline(services, settings, naps, registry=REGISTRY, concurrency=4)

    assert result.state == "succeeded"
    spans = [(a.started_at, a.ended_at or 0.0) for a in result.view.attempts]
    overlapping = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert overlapping == 4  # four at a time, as the concurrency allows


def test_a_stopping_worker_gives_back_the_rest_of_its_batch(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop the worker while it runs a batch: what had not started goes back to ready
    (released, not failed), and a later worker finishes the run."""
    from headwater.worker import worker as worker_module

    # Batches must grow past 20 whatever the machine's load (see the first test).
    monkeypatch.setattr(worker_module, "QUICK_SECONDS", 1.0)
    monkeypatch.setattr(worker_module, "BATCH_SECONDS", 60.0)
    started = threading.Event()
    original = worker_module.Worker._attempt

    def attempt(self: worker_module.Worker, held: object) -> object:
        if len(CALLS) == 20 and not started.is_set():
            started.set()
            self.stop()
        return original(self, held)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module.Worker, "_attempt", attempt)
    CALLS.clear()
    first = run_pipeline(
        services, settings, doubled, args={"n": 100}, registry=REGISTRY, concurrency=1
    )
    assert started.is_set()
    assert first.state == "running"
    released = [a for a in first.view.attempts if a.error_type == "Released"]
    assert released, "the unstarted rest of the batch was given back"
    monkeypatch.undo()

    from headwater.worker.code import CodeLocation
    from headwater.worker.worker import Worker, run_is_over

    worker = Worker(services, CodeLocation(REGISTRY), settings, run_id=first.run_id)
    worker.run(until=run_is_over(services, first.run_id))

    from headwater.local import result_of

    done = result_of(services, doubled.spec, first.run_id)
    assert done.state == "succeeded"
    assert done.output == 2 * sum(range(100))
    assert sorted(set(CALLS)) == list(range(100))


with use_registry(REGISTRY):

    @task
    def mostly_quick(x: int) -> int:
        CALLS.append(x)
        if x == 30:
            time.sleep(0.3)
        return x

    @pipeline
    def one_slow(n: int = 60):
        return total(mostly_quick.map(numbers(n)))


def test_a_slow_task_in_a_batch_gives_back_the_rest_unstarted(
    services: Services, settings: Settings
) -> None:
    CALLS.clear()
    result = run_pipeline(
        services, settings, one_slow, args={"n": 60}, registry=REGISTRY, concurrency=2
    )

    assert result.state == "succeeded"
    assert sorted(CALLS) == list(range(60))  # the given-back ones ran once, elsewhere
    released = [a for a in result.view.attempts if a.error_type == "Released"]
    assert released, "the batch's unstarted attempts were given back after the slow one"


with use_registry(REGISTRY):

    @task(cache=False)
    def half_slow(x: int) -> int:
        if x >= 4:
            time.sleep(0.6)
        return x

    @pipeline
    def four_quick_four_slow():
        return total(half_slow.map(numbers(8)))


def test_what_a_batch_gives_back_is_taken_at_once_by_idle_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four quick elements, then four slow ones, which one thread claims together as
    its next batch. The first slow one makes the batch give back the other three; the
    worker's idle threads take them at once (they are free slots from the moment they
    are given back), not after the loop's next poll, up to a second later.

    On SQLite, where a result is recorded and the run moved on before the next claim,
    one thread reliably takes the four slow elements as one batch; on PostgreSQL
    (claims first, then moves on) which threads take them depends on timing. What is
    tested, the worker's count of its free slots, is the same on both."""
    from headwater.services.context import open_services
    from headwater.worker import worker as worker_module

    # "Quick" up to 0.25 s (a no-op waiting for the GIL on a loaded machine stays under
    # it), so the first batches grow to take the four slow elements together; slow from
    # 0.5 s.
    monkeypatch.setattr(worker_module, "QUICK_SECONDS", 0.25)
    monkeypatch.setattr(worker_module, "SLOW_FACTOR", 2)
    settings = Settings(
        project_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'headwater.db'}",
        artifacts=str(tmp_path / "artifacts"),
        lease_seconds=2.0,
        heartbeat_seconds=0.5,
        poll_seconds=worker_module.MAX_POLL_SECONDS,
    )
    services = open_services(settings)
    try:
        result = run_pipeline(
            services, settings, four_quick_four_slow, registry=REGISTRY, concurrency=4
        )
    finally:
        services.close()

    assert result.state == "succeeded"
    released = [a for a in result.view.attempts if a.error_type == "Released"]
    assert released, "the batch of slow elements gave back its unstarted rest"
    for given_back in released:
        (retry,) = [
            a
            for a in result.view.attempts
            if a.task_run_id == given_back.task_run_id and a.number > given_back.number
        ]
        waited = retry.started_at - (given_back.ended_at or 0.0)
        assert waited < 0.5, f"a given-back element waited {waited:.2f} s for a thread"


def test_one_result_the_store_refuses_does_not_undo_the_rest_of_its_batch(
    services: Services, unhurried: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.services import attempts as attempt_service

    original = attempt_service._success_values
    failed_once: list[int] = []

    def values(result: object, now: float) -> object:
        if getattr(result, "output_json", "") == "140" and not failed_once:  # element 70
            failed_once.append(1)
            raise RuntimeError("a bug while recording one result")
        return original(result, now)  # type: ignore[arg-type]

    monkeypatch.setattr(attempt_service, "_success_values", values)
    CALLS.clear()
    result = run_pipeline(
        services, unhurried, doubled, args={"n": 100}, registry=REGISTRY, concurrency=1
    )

    assert failed_once
    assert result.state == "succeeded"
    assert sorted(CALLS) == list(range(100))  # nothing ran twice: the batch was kept
    assert {a.state.value for a in result.view.attempts} == {"succeeded"}
