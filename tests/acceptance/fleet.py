"""Helpers for the worker-fleet fault tests: a project of slow tasks, `headwater worker`
processes with short leases, and polling the database for the states they leave.

Every worker is started with `Fleet.start` and killed (SIGKILL, after a SIGCONT in case
a test stopped it) when the fleet closes, whatever the test did to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from headwater.config import Settings
from headwater.domain.states import AttemptState, RunState
from headwater.errors import NotFound
from headwater.services.context import Services, open_services
from headwater.services.runs import RunView, get_run_view, start_run
from headwater.services.workers import list_workers
from headwater.store import pipelines as pipeline_store
from headwater.store.runs import AttemptRow

from .conftest import HEADWATER, clean_env

T = TypeVar("T")
CI = os.environ.get("CI") == "true"

LEASE_SECONDS = 2.0
HEARTBEAT_SECONDS = 0.5
POLL_SECONDS = 0.1
# A lost lease is retried within this long after the kill (the test plan's promise).
RECOVERY_SECONDS = LEASE_SECONDS + 5.0
# A worker process importing headwater and registering itself: about 1 s of CPU, so
# several starting at once on a loaded machine (load 10-15 beside other tests) take
# over 20 s. Only a margin for the harness; no promise is timed from a start.
STARTUP_SECONDS = 60.0

# The project every fault test uses. Tasks write "start <attempt>" and "done <attempt>"
# lines to a file given as a parameter, so a test can count executions; they sleep in
# short slices so an interrupt (cancel, lost lease) takes effect between them.
FAULT_PIPELINES = '''\
"""Slow tasks for the worker-fleet fault tests."""

import os
import time

import headwater
from headwater import pipeline, task

NO_WAIT = {"base_seconds": 0, "jitter": False}


def note(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")


def nap(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)


@task(retries=2, backoff=NO_WAIT)
def slow_step(log: str, seconds: float = 1.5, later_seconds: float = -1.0) -> dict:
    """Attempts after the first nap `later_seconds` if it is given (not negative)."""
    attempt = headwater.current_context().attempt
    note(log, f"start {attempt}")
    nap(seconds if attempt == 1 or later_seconds < 0 else later_seconds)
    note(log, f"done {attempt}")
    return {"attempt": attempt}


@pipeline
def slow(log: str, seconds: float = 1.5, later_seconds: float = -1.0):
    return slow_step(log, seconds, later_seconds)


@task(retries=0)
def once_step(log: str, seconds: float = 1.5, later_seconds: float = 1.5) -> dict:
    """No retries; attempts after the first (after a release) nap `later_seconds`."""
    attempt = headwater.current_context().attempt
    note(log, f"start {attempt}")
    nap(seconds if attempt == 1 else later_seconds)
    note(log, f"done {attempt}")
    return {"attempt": attempt}


@pipeline
def once(log: str, seconds: float = 1.5, later_seconds: float = 1.5):
    return once_step(log, seconds, later_seconds)


@task
def numbers(n: int) -> list:
    return list(range(n))


@task(retries=5, backoff=NO_WAIT)
def append_line(item: int, log: str, hold: str = "", hold_from: int = 0) -> int:
    """Items from `hold_from` on wait while the file `hold` exists (if one is named)."""
    while hold and item >= hold_from and os.path.exists(hold):
        time.sleep(0.01)
    attempt = headwater.current_context().attempt
    note(log, f"done {item} {attempt}")
    return item


@pipeline
def many(log: str, n: int = 1000, hold: str = "", hold_from: int = 0):
    return append_line.map(numbers(n), log=log, hold=hold, hold_from=hold_from)
'''


def need(reason: str) -> None:
    """Skip (or, under CI=true, fail) because something the test needs is missing."""
    if CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def write_project(root: Path) -> Path:
    """A project folder whose `pipelines` package holds FAULT_PIPELINES."""
    package = root / "pipelines"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "faults.py").write_text(FAULT_PIPELINES)
    return root


def wait_for(
    condition: Callable[[], T], timeout: float, what: str | Callable[[], str], pause: float = 0.05
) -> T:
    """Poll `condition` until it returns something truthy (returned), or fail after
    `timeout` seconds saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:g} s: {detail}")
        time.sleep(pause)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)


class Fleet:
    """`headwater worker` processes on one project and database, plus the test's own
    connection to that database."""

    def __init__(self, project: Path, database_url: str, logs: Path) -> None:
        self.project, self.database_url, self.logs = project, database_url, logs
        logs.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(
            project_dir=project,
            database_url=database_url,
            lease_seconds=LEASE_SECONDS,
            heartbeat_seconds=HEARTBEAT_SECONDS,
            poll_seconds=POLL_SECONDS,
        )
        # Created here, before any worker starts, so workers never race on the schema.
        self.svc: Services = open_services(self.settings)
        self.workers: list[WorkerProcess] = []

    # -- processes --------------------------------------------------------------------

    def start(self, *args: str) -> WorkerProcess:
        """Start `headwater worker ARGS` (not waiting for it to be ready)."""
        log = self.logs / f"worker-{len(self.workers)}.log"
        env = clean_env(
            HEADWATER_DATABASE_URL=self.database_url,
            HEADWATER_LEASE_SECONDS=str(LEASE_SECONDS),
            HEADWATER_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            HEADWATER_POLL_SECONDS=str(POLL_SECONDS),
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(HEADWATER), "worker", "-C", str(self.project), *args],
                cwd=self.project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *workers: WorkerProcess, timeout: float = STARTUP_SECONDS) -> None:
        """Until each worker is registered as running (so its pipelines are stored)."""
        pids = {w.pid for w in workers}

        def ready() -> bool:
            for worker in workers:
                assert worker.alive(), f"worker {worker.pid} exited:\n{worker.output()}"
            running = {w.pid for w in list_workers(self.svc) if w.state == "running"}
            return pids <= running

        wait_for(ready, timeout, lambda: f"workers {sorted(pids)} ready\n{self.outputs()}")

    def close(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.signal(signal.SIGCONT)
                worker.signal(signal.SIGKILL)
        for worker in self.workers:
            worker.proc.wait(10)
        self.svc.close()

    def outputs(self) -> str:
        return "\n".join(f"--- worker {w.pid}\n{w.output()}" for w in self.workers)

    # -- the database -----------------------------------------------------------------

    def start_run(self, pipeline: str, **args: object) -> str:
        def registered() -> bool:
            with self.svc.db.read() as conn:
                try:
                    pipeline_store.get_pipeline(conn, pipeline)
                except NotFound:
                    return False
            return True

        wait_for(registered, STARTUP_SECONDS, f"pipeline {pipeline} registered by a worker")
        return str(start_run(self.svc, pipeline, args))

    def view(self, run_id: str) -> RunView:
        return get_run_view(self.svc, run_id)

    def attempts(self, run_id: str) -> list[AttemptRow]:
        return sorted(self.view(run_id).attempts, key=lambda a: a.number)

    def running_attempt(self, run_id: str, number: int) -> AttemptRow | None:
        for attempt in self.attempts(run_id):
            if attempt.number == number and attempt.state == AttemptState.RUNNING:
                return attempt
        return None

    def holder(self, attempt: AttemptRow) -> WorkerProcess:
        """The worker process that holds `attempt`."""
        pids = {w.id: w.pid for w in list_workers(self.svc, include_stopped=True)}
        pid = pids[attempt.worker_id] if attempt.worker_id else None
        for worker in self.workers:
            if worker.pid == pid:
                return worker
        raise AssertionError(f"attempt {attempt.id} is held by unknown worker {attempt.worker_id}")

    def wait_run_over(self, run_id: str, timeout: float) -> RunView:
        def over() -> RunView | None:
            view = self.view(run_id)
            return view if view.run.state != RunState.RUNNING else None

        return wait_for(over, timeout, lambda: f"run {run_id} ended\n{self.describe(run_id)}")

    def describe(self, run_id: str) -> str:
        view = self.view(run_id)
        rows = [f"run {run_id}: {view.run.state}"]
        rows += [f"  task run {t.label}: {t.state} attempts={t.attempts}" for t in view.task_runs]
        rows += [
            f"  attempt {a.number}: {a.state} {a.error_type or ''} by {a.worker_id}"
            f" {time_of_day(a.started_at)} to {time_of_day(a.ended_at)}"
            for a in view.attempts
        ]
        rows += [
            f"  worker {w.id} pid {w.pid}: {w.state} started {time_of_day(w.started_at)}"
            f" beat {time_of_day(w.heartbeat_at)} running {w.running}"
            for w in list_workers(self.svc, include_stopped=True)
        ]
        return "\n".join(rows) + f"\nnow {time_of_day(time.time())}\n" + self.outputs()


def time_of_day(seconds: float | None) -> str:
    """A database timestamp as the time of day (UTC, as in the workers' logs)."""
    if seconds is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


@contextmanager
def fleet(project_root: Path, database_url: str) -> Iterator[Fleet]:
    """A fleet on a fresh fault project under `project_root`; every worker it started is
    killed on the way out."""
    project = write_project(project_root / "project")
    running = Fleet(project, database_url, project_root / "logs")
    try:
        yield running
    finally:
        running.close()


def stop_process(worker: WorkerProcess, timeout: float = 10.0) -> int:
    """Wait for a worker to exit; its exit code."""
    try:
        return worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"worker {worker.pid} still running after {timeout:g} s\n{worker.output()}"
        ) from None
