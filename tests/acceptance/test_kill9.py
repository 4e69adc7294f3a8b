"""`kill -9` a worker in mid-attempt: another worker reaps its lease and retries the
task run, which succeeds exactly once; the killed attempt ends `lost`.

The scenario is looped (a new run each time) on worker processes that live across
iterations: each round kills the holders of PARALLEL runs at once and starts as many
replacements, so a round costs one lease expiry plus one task, not one per run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.domain.states import AttemptState, RunState, TaskRunState

from .fleet import RECOVERY_SECONDS, Fleet, WorkerProcess, fleet, lines, time_of_day, wait_for

LOOPS = 20
PARALLEL = 4  # runs whose holders are killed in the same round
FIRST_SECONDS = 30.0  # attempt 1, killed long before it ends (whenever the others start)
TASK_SECONDS = 1.5  # the retry


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[Fleet]:
    with fleet(tmp_path, database_url) as running:
        yield running


def test_kill9_mid_attempt_is_retried_once_by_another_worker(
    workers: Fleet, tmp_path: Path
) -> None:
    pool = [workers.start("-j", "1") for _ in range(2 * PARALLEL)]
    workers.wait_ready(*pool)
    replacements: list[WorkerProcess] = []
    for round_number in range(LOOPS // PARALLEL):
        # Other workers must be up to retry once this round's holders are killed: the
        # last round's replacements, started as it recovered, may still be starting (a
        # loaded machine). Before the runs start, so their attempts are still running
        # when the holders are killed.
        workers.wait_ready(*replacements)
        logs = [tmp_path / f"effects-{round_number}-{i}.log" for i in range(PARALLEL)]
        runs = [
            workers.start_run(
                "slow", log=str(log), seconds=FIRST_SECONDS, later_seconds=TASK_SECONDS
            )
            for log in logs
        ]
        holders = []
        for run_id, log in zip(runs, logs, strict=True):
            wait_for(
                lambda log=log: lines(log) == ["start 1"],
                RECOVERY_SECONDS,
                lambda run_id=run_id: f"attempt 1 started\n{workers.describe(run_id)}",
            )
            attempt = workers.running_attempt(run_id, 1)
            assert attempt is not None, workers.describe(run_id)
            holders.append(workers.holder(attempt))
        assert len({h.pid for h in holders}) == PARALLEL, "one attempt per worker (-j 1)"
        for holder in holders:
            holder.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        # Shown if the round fails, beside the times `describe` gives.
        print(
            f"round {round_number}: killed {[h.pid for h in holders]} at {time_of_day(time.time())}"
        )
        # Replacements keep the pool at its size; they start while this round recovers.
        replacements = [workers.start("-j", "1") for _ in holders]

        for run_id, log in zip(runs, logs, strict=True):
            view = workers.wait_run_over(run_id, killed_at + RECOVERY_SECONDS - time.monotonic())
            where = workers.describe(run_id)
            assert view.run.state == RunState.SUCCEEDED, where
            (task_run,) = view.task_runs
            assert task_run.state == TaskRunState.SUCCEEDED, where
            states = [a.state for a in sorted(view.attempts, key=lambda a: a.number)]
            assert states == [AttemptState.LOST, AttemptState.SUCCEEDED], where
            lost, retry = sorted(view.attempts, key=lambda a: a.number)
            assert lost.error_type == "LeaseExpired", where
            assert retry.worker_id != lost.worker_id, where
            # The killed attempt never finished; the retry ran once, to the end.
            assert lines(log) == ["start 1", "start 2", "done 2"], where
        for holder in holders:
            assert holder.proc.wait(10) == -signal.SIGKILL
