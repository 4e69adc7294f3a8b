"""SIGSTOP the worker holding an attempt past its lease: another worker reaps the lease
and retries; when the stopped worker resumes, its late result is refused (fencing) and
exactly one success is recorded, the retry's."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from headwater.domain.states import AttemptState, RunState, TaskRunState

from .fleet import LEASE_SECONDS, RECOVERY_SECONDS, Fleet, WorkerProcess, fleet, lines, wait_for

TASK_SECONDS = 1.5
STOPPED_SECONDS = 2 * LEASE_SECONDS  # at least this long: well past the lease


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    with fleet(tmp_path, database_url) as running:
        yield running


@dataclass
class Stopped:
    run_id: str
    effects: Path
    stopped: WorkerProcess
    other: WorkerProcess


def stop_the_holder_until_the_retry_succeeded(workers: Fleet, tmp_path: Path) -> Stopped:
    """Two workers; SIGSTOP the one holding attempt 1, wait until the other has retried
    the task run to success (and the stop lasted STOPPED_SECONDS), then SIGCONT it."""
    pool = [workers.start("-j", "1") for _ in range(2)]
    workers.wait_ready(*pool)
    effects = tmp_path / "effects.log"
    run_id = workers.start_run("slow", log=str(effects), seconds=TASK_SECONDS)
    wait_for(lambda: lines(effects) == ["start 1"], RECOVERY_SECONDS, "attempt 1 started")
    attempt = workers.running_attempt(run_id, 1)
    assert attempt is not None, workers.describe(run_id)
    stopped = workers.holder(attempt)
    (other,) = [w for w in pool if w is not stopped]
    stopped.signal(signal.SIGSTOP)
    stopped_at = time.monotonic()

    view = workers.wait_run_over(run_id, RECOVERY_SECONDS + TASK_SECONDS)
    assert view.run.state == RunState.SUCCEEDED, workers.describe(run_id)
    wait_for(
        lambda: time.monotonic() - stopped_at >= STOPPED_SECONDS,
        STOPPED_SECONDS,
        "the stop lasted long enough",
    )
    stopped.signal(signal.SIGCONT)
    return Stopped(run_id, effects, stopped, other)


def test_sigstopped_worker_late_result_is_refused(workers: Fleet, tmp_path: Path) -> None:
    case = stop_the_holder_until_the_retry_succeeded(workers, tmp_path)
    wait_for(
        lambda: "refused" in case.stopped.output(),
        RECOVERY_SECONDS,
        lambda: f"the resumed worker logs the refusal\n{workers.outputs()}",
    )
    where = workers.describe(case.run_id)
    view = workers.view(case.run_id)
    assert view.run.state == RunState.SUCCEEDED, where
    (task_run,) = view.task_runs
    assert task_run.state == TaskRunState.SUCCEEDED, where
    assert json.loads(task_run.output or "null") == {"attempt": 2}, where
    attempts = sorted(view.attempts, key=lambda a: a.number)
    assert [a.state for a in attempts] == [AttemptState.LOST, AttemptState.SUCCEEDED], where
    lost, retry = attempts
    assert (lost.state, lost.error_type) == (AttemptState.LOST, "LeaseExpired"), where
    assert workers.holder(retry) is case.other, where
    assert "done 2" in lines(case.effects), where
    # The resumed worker carries on: alive, and beating again as a running worker.
    workers.wait_ready(case.stopped)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # not about the database
def test_refused_late_result_leaves_the_retry_output_in_the_cache(
    workers: Fleet, tmp_path: Path
) -> None:
    case = stop_the_holder_until_the_retry_succeeded(workers, tmp_path)
    wait_for(
        lambda: "result refused" in case.stopped.output(),
        RECOVERY_SECONDS,
        lambda: f"the resumed worker's result refused\n{workers.outputs()}",
    )
    # Same arguments: a cache hit, which must give the accepted (the retry's) output.
    again = workers.start_run("slow", log=str(case.effects), seconds=TASK_SECONDS)
    view = workers.wait_run_over(again, RECOVERY_SECONDS)
    (task_run,) = view.task_runs
    assert task_run.state == TaskRunState.CACHED, workers.describe(again)
    assert json.loads(task_run.output or "null") == {"attempt": 2}, workers.describe(again)
