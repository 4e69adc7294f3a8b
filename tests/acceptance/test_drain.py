"""A fleet of `headwater worker` processes drains a 5,000-task run: 8 workers on
PostgreSQL, 4 sharing one SQLite file. Every task runs exactly once (no double claim,
no lost work), the run's result is right, and SIGTERM stops every worker cleanly.

Each task appends "<index> <attempt number>" to a side-effect file, so a task that ran
twice, or ran without its attempt being recorded, shows up as a line too many.
"""

from __future__ import annotations

import collections
import itertools
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa

from headwater.store.tables import attempts, runs, task_runs

from .conftest import HEADWATER, clean_env, explain, hw

TASKS = 5_000
DRAIN_DEADLINE_SECONDS = 240.0
STOP_TIMEOUT_SECONDS = 30.0
WORKERS = {"sqlite": 4, "postgresql": 8}

PIPELINE = '''
from pathlib import Path

import headwater
from headwater import pipeline, task


@task
def indices(n: int) -> list[int]:
    return list(range(n))


@task
def record(index: int, log: str) -> int:
    """Leave one line per execution: the side effect a double claim would repeat."""
    attempt = headwater.current_context().attempt
    with Path(log).open("a", encoding="utf-8") as handle:
        handle.write(f"{index} {attempt}\\n")
    return index


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@pipeline
def drain(n: int, log: str):
    return total(record.map(indices(n), log=log))
'''


def _project(root: Path) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "__init__.py").write_text('"""Drain test pipelines."""\n')
    (root / "pipelines" / "drain.py").write_text(PIPELINE)
    return root


class Fleet:
    """Worker processes with their stderr in files (a pipe nobody reads would fill up)."""

    def __init__(self, project: Path, env: dict[str, str], count: int) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self._files: list[IO[bytes]] = []
        for n in range(count):
            log = project / f"worker-{n}.log"
            handle = log.open("wb")
            self._files.append(handle)
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [str(HEADWATER), "worker", "-C", str(project)],
                    cwd=project,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            )

    def alive(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self) -> list[int | None]:
        """SIGTERM each worker; their exit codes (None for one that did not stop)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        codes: list[int | None] = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
        return codes

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for handle in self._files:
            handle.close()

    def output(self) -> str:
        return "\n".join(f"--- worker {n}\n{log.read_text()}" for n, log in enumerate(self.logs))


@pytest.fixture
def fleet_box() -> Iterator[list[Fleet]]:
    """Kills whatever workers a failing test left running."""
    box: list[Fleet] = []
    yield box
    for fleet in box:
        fleet.close()


def _wait_for_end(engine: sa.Engine, run_id: str, fleet: Fleet) -> str:
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            state = conn.execute(sa.select(runs.c.state).where(runs.c.id == run_id)).scalar_one()
        if state != "running":
            return str(state)
        assert len(fleet.alive()) == len(fleet.procs), fleet.output()
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still running after {DRAIN_DEADLINE_SECONDS} s")


@pytest.mark.slow
def test_a_fleet_of_workers_drains_5000_tasks_exactly_once(
    database_url: str, tmp_path: Path, fleet_box: list[Fleet]
) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    project = _project(tmp_path / "project")
    effects = tmp_path / "effects.txt"
    env = clean_env(
        HEADWATER_DATABASE_URL=database_url,
        HEADWATER_ARTIFACTS=str(tmp_path / "artifacts"),
        HEADWATER_LEASE_SECONDS="5",
        HEADWATER_HEARTBEAT_SECONDS="1",
        HEADWATER_POLL_SECONDS="0.1",
    )

    submitted = hw(
        "submit",
        "drain",
        "-C",
        project,
        "-p",
        f"n={TASKS}",
        "-p",
        f"log={effects}",
        cwd=project,
        env=env,
    )
    assert submitted.returncode == 0, explain(submitted)
    run_id = submitted.stdout.strip().splitlines()[-1]

    started = time.monotonic()
    fleet = Fleet(project, env, WORKERS[backend])
    fleet_box.append(fleet)
    engine = sa.create_engine(database_url)
    try:
        state = _wait_for_end(engine, run_id, fleet)
        drained = time.monotonic() - started
        codes = fleet.stop()
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    task_runs.c.id,
                    task_runs.c.node_id,
                    task_runs.c.map_index,
                    task_runs.c.state,
                    task_runs.c.output,
                ).where(task_runs.c.run_id == run_id)
            ).all()
            tries = conn.execute(
                sa.select(
                    attempts.c.task_run_id,
                    attempts.c.number,
                    attempts.c.state,
                    attempts.c.started_at,
                    attempts.c.ended_at,
                    attempts.c.error_type,
                ).where(attempts.c.run_id == run_id)
            ).all()
    finally:
        engine.dispose()

    output = fleet.output()
    assert tries, output
    # Measured, not asserted (benchmarks live in bench/): wall time from starting the
    # workers, and the database's time from the first attempt's start to the last's end.
    working = max(a.ended_at or a.started_at for a in tries) - min(a.started_at for a in tries)
    print(
        f"\n[drain] {backend}: {WORKERS[backend]} workers, {len(tries)} attempts; "
        f"{drained:.1f} s from starting the workers ({len(tries) / drained:.0f} attempts/s), "
        f"{working:.1f} s from first attempt to last ({len(tries) / working:.0f} attempts/s)"
    )
    assert state == "succeeded", output
    assert codes == [0] * len(codes), output
    assert "database is locked" not in output, output
    assert "Traceback" not in output, output

    mapped = {r.id: r for r in rows if r.node_id == "record" and r.map_index >= 0}
    assert len(mapped) == TASKS
    assert collections.Counter(r.state for r in mapped.values()) == {"succeeded": TASKS}
    (total,) = [r for r in rows if r.node_id == "total"]
    assert total.state == "succeeded"
    assert int(total.output) == sum(range(TASKS))

    # No double claims: a task run's attempts never overlap in time, and, as no worker
    # died, each task run took exactly one attempt.
    by_task_run: dict[int, list[Any]] = {}
    for attempt in tries:
        by_task_run.setdefault(attempt.task_run_id, []).append(attempt)
    for attempt_list in by_task_run.values():
        ordered = sorted(attempt_list, key=lambda a: a.number)
        for earlier, later in itertools.pairwise(ordered):
            assert earlier.ended_at is not None
            assert earlier.ended_at <= later.started_at
    # As no worker died, each task run took exactly one attempt that ran. A worker that
    # ends a batch of quick attempts early (a slow one among them, or the batch's time
    # is up) gives back the attempts it has not started: those end cancelled as
    # "Released", ran nothing, and are claimed again (by any worker).
    ran = collections.Counter(
        len([a for a in attempt_list if a.error_type != "Released"])
        for attempt_list in by_task_run.values()
    )
    assert ran == {1: len(rows) - 1}  # every row but the map parent
    given_back = [a for a in tries if a.error_type == "Released"]
    assert {a.state for a in given_back} <= {"cancelled"}

    # Exactly one side effect per successful attempt, and none for anything else.
    lines = collections.Counter(effects.read_text().splitlines())
    succeeded = {
        f"{mapped[a.task_run_id].map_index} {a.number}"
        for a in tries
        if a.task_run_id in mapped and a.state == "succeeded"
    }
    assert len(succeeded) == TASKS
    assert {line for line, n in lines.items() if n > 1} == set()
    assert set(lines) == succeeded
