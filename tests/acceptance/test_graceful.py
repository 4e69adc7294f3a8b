"""SIGTERM a worker: it stops claiming, lets held attempts finish within --grace, then
releases the rest back to ready (not counted against retries) and exits 0; a second
signal ends it at once with code 1."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.domain.states import AttemptState, RunState, TaskRunState

from .fleet import RECOVERY_SECONDS, Fleet, WorkerProcess, fleet, lines, stop_process, wait_for

LONG_SECONDS = 30.0  # an attempt no test waits for
PROMPT_EXIT_SECONDS = 5.0  # well under LONG_SECONDS and the default 30 s grace


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    with fleet(tmp_path, database_url) as running:
        yield running


def holder_of_first_attempt(workers: Fleet, run_id: str, effects: Path) -> WorkerProcess:
    wait_for(lambda: lines(effects) == ["start 1"], RECOVERY_SECONDS, "attempt 1 started")
    attempt = workers.running_attempt(run_id, 1)
    assert attempt is not None, workers.describe(run_id)
    return workers.holder(attempt)


def wait_for_stopping(worker: WorkerProcess) -> None:
    """Until the worker has handled the first signal (it logs that it is stopping)."""
    wait_for(lambda: "stopping" in worker.output(), RECOVERY_SECONDS, worker.output)


def test_sigterm_releases_a_long_attempt_to_another_worker(workers: Fleet, tmp_path: Path) -> None:
    pool = [workers.start("-j", "1", "--grace", "0.5") for _ in range(2)]
    workers.wait_ready(*pool)
    effects = tmp_path / "effects.log"
    # retries=0: the task run succeeds only if the release did not use up its one try.
    run_id = workers.start_run("once", log=str(effects), seconds=LONG_SECONDS, later_seconds=0.2)
    holder = holder_of_first_attempt(workers, run_id, effects)
    (other,) = [w for w in pool if w is not holder]

    holder.signal(signal.SIGTERM)
    assert stop_process(holder, PROMPT_EXIT_SECONDS) == 0, holder.output()

    view = workers.wait_run_over(run_id, RECOVERY_SECONDS)
    where = workers.describe(run_id)
    assert view.run.state == RunState.SUCCEEDED, where
    (task_run,) = view.task_runs
    assert task_run.state == TaskRunState.SUCCEEDED, where
    released, retry = sorted(view.attempts, key=lambda a: a.number)
    assert (released.state, released.error_type) == (AttemptState.CANCELLED, "Released"), where
    assert retry.state == AttemptState.SUCCEEDED, where
    assert workers.holder(retry) is other, where
    # The released attempt was stopped, not left running beside the retry.
    assert lines(effects) == ["start 1", "start 2", "done 2"], where


def test_sigterm_lets_a_short_attempt_finish_and_claims_nothing_new(
    workers: Fleet, tmp_path: Path
) -> None:
    (worker,) = pool = [workers.start()]
    workers.wait_ready(*pool)
    effects = tmp_path / "effects.log"
    run_id = workers.start_run("once", log=str(effects), seconds=1.5)
    holder_of_first_attempt(workers, run_id, effects)

    worker.signal(signal.SIGTERM)
    wait_for_stopping(worker)
    late = workers.start_run("once", log=str(tmp_path / "late.log"), seconds=0.1)
    assert stop_process(worker, PROMPT_EXIT_SECONDS) == 0, worker.output()

    view = workers.view(run_id)
    where = workers.describe(run_id)
    assert view.run.state == RunState.SUCCEEDED, where
    assert [a.state for a in view.attempts] == [AttemptState.SUCCEEDED], where
    assert lines(effects) == ["start 1", "done 1"], where
    # Submitted after the signal: left for another worker.
    late_view = workers.view(late)
    assert [t.state for t in late_view.task_runs] == [TaskRunState.READY], workers.describe(late)
    assert late_view.attempts == [], workers.describe(late)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_second_signal_exits_at_once_with_code_1(
    workers: Fleet, tmp_path: Path, second: signal.Signals
) -> None:
    (worker,) = pool = [workers.start()]  # the default grace, 30 s
    workers.wait_ready(*pool)
    effects = tmp_path / "effects.log"
    run_id = workers.start_run("once", log=str(effects), seconds=LONG_SECONDS)
    holder_of_first_attempt(workers, run_id, effects)

    worker.signal(signal.SIGTERM)
    wait_for_stopping(worker)
    worker.signal(second)
    assert stop_process(worker, PROMPT_EXIT_SECONDS) == 1, worker.output()
    assert "second signal" in worker.output()
    # Nothing was released: the attempt waits for its lease to expire.
    (attempt,) = workers.view(run_id).attempts
    assert attempt.state == AttemptState.RUNNING, workers.describe(run_id)
    assert lines(effects) == ["start 1"]
